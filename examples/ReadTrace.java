// pgjdbc against tracegate: the access token is the password. A single-file program:
//
//   PGPASSWORD=$(npx tracegate token agent-a) \
//     java -cp /usr/share/java/postgresql.jar examples/ReadTrace.java tr_000001
//
// (Debian's libpostgresql-jdbc-java puts the driver there; or use the jar from Maven
// Central, org.postgresql:postgresql.) The URL below is the demo's: plaintext on
// loopback. In production use sslmode=verify-full&sslrootcert=/path/to/ca.pem.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Properties;

public class ReadTrace {
    public static void main(String[] args) throws SQLException {
        if (args.length != 1) {
            System.err.println("usage: java -cp postgresql.jar examples/ReadTrace.java TRACE_ID");
            System.exit(2);
        }
        String url = System.getenv().getOrDefault("TRACEGATE_JDBC_URL",
            "jdbc:postgresql://127.0.0.1:6432/traces?sslmode=disable");
        Properties props = new Properties();
        props.setProperty("user", "agent-a"); // a label: the identity comes from the token
        props.setProperty("password", System.getenv("PGPASSWORD"));
        try (Connection conn = DriverManager.getConnection(url, props)) {
            // A PreparedStatement is Parse/Bind/Execute: tracegate decides at Bind, with
            // the trace id in hand. pgjdbc's own startup and type queries are housekeeping.
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT step, role, content FROM trace_steps WHERE trace_id = ? ORDER BY step")) {
                st.setString(1, args[0]);
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) {
                        System.out.printf("[%d] %s: %s%n", rs.getInt("step"), rs.getString("role"), rs.getString("content"));
                    }
                }
            }
        } catch (SQLException e) {
            // tracegate's refusals carry their SQLSTATE: 42501 denied, 53400 over quota, ...
            System.err.println(e.getSQLState() + " " + e.getMessage());
            System.exit(1);
        }
    }
}
