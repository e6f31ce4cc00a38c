"""psycopg 3 against tracegate: the access token is the password.

Against the demo (`npm start`), from the repository root:

    PGPASSWORD=$(npx tracegate token agent-a) PGSSLMODE=disable python3 examples/psycopg_read_trace.py tr_000001

Needs psycopg 3 (pip install "psycopg[binary]", or Debian's python3-psycopg). Elsewhere
set PGHOST, PGPORT, PGPASSWORD and PGSSLMODE=verify-full with PGSSLROOTCERT; libpq reads
them from the environment.
"""

import os
import sys

import psycopg


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python3 examples/psycopg_read_trace.py TRACE_ID", file=sys.stderr)
        return 2
    trace_id = sys.argv[1]
    conninfo = psycopg.conninfo.make_conninfo(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "6432"),
        user=os.environ.get("PGUSER", "agent-a"),
        dbname="traces",
        # TLS verified unless told otherwise (the demo accepts plaintext on loopback only).
        sslmode=os.environ.get("PGSSLMODE", "verify-full"),
    )
    try:
        with psycopg.connect(conninfo, password=os.environ["PGPASSWORD"]) as conn:
            # psycopg sends bound parameters with the extended protocol: the pin on
            # trace_id is decided at Bind, when tracegate sees the value.
            row = conn.execute(
                "SELECT trace_id, risk, user_email, summary FROM traces WHERE trace_id = %s",
                (trace_id,),
            ).fetchone()
            print(row)
            for step in conn.execute(
                "SELECT step, role, content FROM trace_steps WHERE trace_id = %s ORDER BY step",
                (trace_id,),
            ):
                print(step)
    except psycopg.Error as err:
        print(f"{err.sqlstate or ''} {err}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
