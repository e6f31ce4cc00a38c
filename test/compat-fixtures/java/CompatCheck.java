// pgjdbc (Debian libpostgresql-jdbc-java) through tracegate, run as a real JVM by
// test/integration/compat/pgjdbc.test.ts. Its task comes in TRACEGATE_COMPAT_* environment
// variables; it prints one JSON line per check on stdout ({"check", "ok", "detail", ...})
// and reports what the driver did, including its own exception class and SQLState. The
// test decides what passes.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.postgresql.PGStatement;
import org.postgresql.util.PSQLException;

public final class CompatCheck {
  private static final String READ =
      "SELECT trace_id, agent_id, user_email, risk, created_at, summary FROM traces WHERE trace_id = ?";
  private static final String STEPS =
      "SELECT s.step, s.role, t.created_at FROM trace_steps s JOIN traces t USING (trace_id) WHERE t.trace_id = ? ORDER BY s.step";
  private static final String BULK = "SELECT trace_id, user_email FROM traces";

  private static String env(String name) {
    String v = System.getenv("TRACEGATE_COMPAT_" + name);
    if (v == null) throw new IllegalStateException("missing TRACEGATE_COMPAT_" + name);
    return v;
  }

  private static final String TRACE = env("TRACE_ID");

  public static void main(String[] args) throws Exception {
    Connection expiring = connect(env("EXPIRING_TOKEN"), new Properties());
    Connection conn = connect(env("TOKEN"), new Properties());

    check("login", () -> {
      try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
        rs.next();
        String driver = conn.getMetaData().getDriverVersion();
        emit("login", rs.getInt(1) == 1, "pgjdbc " + driver + ", server " + conn.getMetaData().getDatabaseProductVersion(),
            "version", driver);
      }
    });

    check("read", () -> {
      // Default prepareThreshold (5): the first executions use the unnamed statement.
      try (PreparedStatement ps = conn.prepareStatement(READ)) {
        ps.setString(1, TRACE);
        List<Map<String, Object>> rows = rows(ps.executeQuery());
        emit("read", rows.size() == 1, "PreparedStatement, unnamed server statement (extended protocol)", "rows", rows);
      }
    });

    check("prepared", () -> {
      // prepareThreshold=1: a named server-side statement from the first execution on.
      try (PreparedStatement ps = conn.prepareStatement(READ)) {
        ps.unwrap(PGStatement.class).setPrepareThreshold(1);
        List<Map<String, Object>> last = null;
        for (int i = 0; i < 3; i++) {
          ps.setString(1, TRACE);
          last = rows(ps.executeQuery());
        }
        boolean named = ps.unwrap(PGStatement.class).isUseServerPrepare();
        emit("prepared", last != null && last.size() == 1 && named, "prepareThreshold=1: named server statement, executed 3 times",
            "rows", last);
      }
    });

    check("binary", () -> {
      // prepareThreshold=-1 prepares on the first execution and, once the result types
      // are known, pgjdbc asks for binary results for int4 and timestamptz.
      Properties p = new Properties();
      p.setProperty("prepareThreshold", "-1");
      try (Connection bin = connect(env("TOKEN"), p); PreparedStatement ps = bin.prepareStatement(STEPS)) {
        int count = 0;
        String firstRole = null;
        for (int i = 0; i < 2; i++) {
          ps.setString(1, TRACE);
          try (ResultSet rs = ps.executeQuery()) {
            count = 0;
            while (rs.next()) {
              if (count == 0) firstRole = rs.getString("role");
              rs.getInt("step");
              rs.getTimestamp("created_at");
              count++;
            }
          }
        }
        emit("binary", count > 0, "prepareThreshold=-1: binary transfer of int4 and timestamptz", "rowCount", count,
            "firstRole", firstRole);
      }
    });

    check("denied", () -> {
      try (Statement st = conn.createStatement()) {
        st.executeQuery(BULK).close();
        emit("denied", false, "the bulk read was not refused");
      } catch (SQLException e) {
        emit("denied", true, "", error(e));
      }
      try (PreparedStatement ps = conn.prepareStatement(READ)) {
        ps.setString(1, TRACE);
        emit("usable-after-denial", rows(ps.executeQuery()).size() == 1, "same connection, next statement");
      }
    });

    check("denied-prepared", () -> {
      try (PreparedStatement ps = conn.prepareStatement(READ)) {
        ps.unwrap(PGStatement.class).setPrepareThreshold(1);
        ps.setString(1, env("OTHER_TRACE_ID"));
        ps.executeQuery().close();
        emit("denied-prepared", false, "the read of another agent's trace was not refused");
      } catch (SQLException e) {
        emit("denied-prepared", true, "", error(e));
      }
      try (PreparedStatement ps = conn.prepareStatement(READ)) {
        ps.unwrap(PGStatement.class).setPrepareThreshold(1);
        ps.setString(1, TRACE);
        emit("usable-after-denied-prepared", rows(ps.executeQuery()).size() == 1, "same connection, prepared read again");
      }
    });

    check("transaction", () -> {
      conn.setAutoCommit(false);
      try {
        try (PreparedStatement ps = conn.prepareStatement(READ)) {
          ps.setString(1, TRACE);
          rows(ps.executeQuery());
        }
        try (Statement st = conn.createStatement()) {
          st.executeQuery(BULK).close();
          emit("transaction", false, "the bulk read was not refused");
          return;
        } catch (SQLException e) {
          conn.rollback();
        }
        try (PreparedStatement ps = conn.prepareStatement(READ)) {
          ps.setString(1, TRACE);
          boolean ok = rows(ps.executeQuery()).size() == 1;
          conn.commit();
          emit("transaction", ok, "autoCommit=false: denial, rollback(), next statement, commit()");
        }
      } finally {
        conn.setAutoCommit(true);
      }
    });

    check("expired", () -> {
      long wait = Long.parseLong(env("EXPIRING_AT")) + 300 - System.currentTimeMillis();
      if (wait > 0) Thread.sleep(wait);
      try (PreparedStatement ps = expiring.prepareStatement(READ)) {
        ps.setString(1, TRACE);
        ps.executeQuery().close();
        emit("expired", false, "the session outlived its token");
      } catch (SQLException e) {
        Map<String, Object> info = error(e);
        info.put("closed", expiring.isClosed());
        emit("expired", true, "connection closed: " + expiring.isClosed(), info);
      }
      try (Connection fresh = connect(env("FRESH_TOKEN"), new Properties()); PreparedStatement ps = fresh.prepareStatement(READ)) {
        ps.setString(1, TRACE);
        emit("reconnect", rows(ps.executeQuery()).size() == 1, "new connection with a fresh token");
      }
    });

    conn.close();
    emit("done", true, "");
  }

  private static Connection connect(String token, Properties extra) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", env("USER"));
    p.setProperty("password", token);
    p.setProperty("sslmode", "disable");
    p.setProperty("ApplicationName", "tracegate-compat");
    p.putAll(extra);
    String url = "jdbc:postgresql://" + env("HOST") + ":" + env("PORT") + "/" + env("DATABASE");
    return DriverManager.getConnection(url, p);
  }

  private static List<Map<String, Object>> rows(ResultSet rs) throws SQLException {
    List<Map<String, Object>> out = new ArrayList<>();
    try (rs) {
      while (rs.next()) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("traceId", rs.getString("trace_id"));
        row.put("agentId", rs.getString("agent_id"));
        row.put("email", rs.getString("user_email"));
        row.put("risk", rs.getString("risk"));
        Object created = rs.getObject("created_at");
        row.put("createdAtType", created == null ? null : created.getClass().getSimpleName());
        row.put("createdAt", String.valueOf(created));
        row.put("summary", rs.getString("summary"));
        out.add(row);
      }
    }
    return out;
  }

  private static Map<String, Object> error(SQLException e) {
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("errorClass", e.getClass().getName());
    info.put("sqlstate", e.getSQLState());
    info.put("message", String.valueOf(e.getMessage()));
    if (e instanceof PSQLException psql && psql.getServerErrorMessage() != null) {
      info.put("severity", psql.getServerErrorMessage().getSeverity());
    }
    return info;
  }

  interface Body {
    void run() throws Exception;
  }

  private static void check(String name, Body body) {
    try {
      body.run();
    } catch (Exception e) {
      Map<String, Object> info = e instanceof SQLException s ? error(s) : new LinkedHashMap<>();
      info.putIfAbsent("errorClass", e.getClass().getName());
      info.putIfAbsent("message", String.valueOf(e.getMessage()));
      emit(name, false, "unexpected error", info);
    }
  }

  private static void emit(String check, boolean ok, String detail, Object... extra) {
    Map<String, Object> fields = new LinkedHashMap<>();
    for (int i = 0; i + 1 < extra.length; i += 2) fields.put((String) extra[i], extra[i + 1]);
    emit(check, ok, detail, fields);
  }

  private static void emit(String check, boolean ok, String detail, Map<String, Object> extra) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("check", check);
    line.put("ok", ok);
    line.put("detail", detail);
    line.putAll(extra);
    System.out.println(json(line));
    System.out.flush();
  }

  private static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof Boolean || v instanceof Integer || v instanceof Long) return v.toString();
    if (v instanceof Map<?, ?> m) {
      StringBuilder sb = new StringBuilder("{");
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (sb.length() > 1) sb.append(',');
        sb.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
      }
      return sb.append('}').toString();
    }
    if (v instanceof List<?> l) {
      StringBuilder sb = new StringBuilder("[");
      for (Object o : l) {
        if (sb.length() > 1) sb.append(',');
        sb.append(json(o));
      }
      return sb.append(']').toString();
    }
    String s = v.toString();
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    return sb.append('"').toString();
  }
}
