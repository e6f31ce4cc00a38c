"""psycopg2 (Debian python3-psycopg2) through tracegate: see compat_common.py.

psycopg2 interpolates parameters on the client and sends simple Query messages with
text results: it has no server-side prepared statements and no binary results, so the
parameterised read is the one form it has.
"""

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from compat_common import BULK_SQL, READ_SQL, TASK, conninfo, emit, error_info, row_summary, run_check, wait_until_expired

READ = READ_SQL.format(p="%s")
TRACE = TASK["traceId"]


def connect(token):
    return psycopg2.connect(**conninfo(token))


expiring = connect(TASK["expiringToken"])
conn = connect(TASK["token"])


def fetch(connection, sql, params=None):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def login():
    value = fetch(conn, "SELECT 1")[0][0]
    conn.rollback()
    emit("login", value == 1, f"psycopg2 {psycopg2.__version__.split()[0]}, libpq {psycopg2.extensions.libpq_version()}, server {conn.server_version}",
         version=psycopg2.__version__.split()[0])


def read():
    # Default (non-autocommit) use: psycopg2 opens a transaction with BEGIN first.
    rows = fetch(conn, READ, (TRACE,))
    conn.commit()
    emit("read", len(rows) == 1, "parameter interpolated client-side (simple query), inside psycopg2's implicit transaction",
         rows=[row_summary(r) for r in rows])


def denied():
    try:
        fetch(conn, BULK_SQL)
        emit("denied", False, "the bulk read was not refused")
    except psycopg2.Error as exc:
        emit("denied", True, "", **error_info(exc))
    # What a psycopg2 application does after an error in its implicit transaction.
    conn.rollback()
    rows = fetch(conn, READ, (TRACE,))
    conn.commit()
    emit("usable-after-denial", len(rows) == 1, "rollback(), then the next statement")


def autocommit():
    conn.autocommit = True
    try:
        fetch(conn, BULK_SQL)
        emit("autocommit", False, "the bulk read was not refused")
        return
    except psycopg2.errors.InsufficientPrivilege:
        pass
    rows = fetch(conn, READ, (TRACE,))
    emit("autocommit", len(rows) == 1, "autocommit: denial, then the next statement")


def expiry():
    wait_until_expired()
    try:
        fetch(expiring, READ, (TRACE,))
        emit("expired", False, "the session outlived its token")
    except psycopg2.Error as exc:
        emit("expired", True, f"connection closed: {bool(expiring.closed)}", closed=bool(expiring.closed), **error_info(exc))
    fresh = connect(TASK["freshToken"])
    try:
        rows = fetch(fresh, READ, (TRACE,))
        emit("reconnect", len(rows) == 1, "new connection with a fresh token")
    finally:
        fresh.close()


for name, fn in [("login", login), ("read", read), ("denied", denied), ("autocommit", autocommit), ("expired", expiry)]:
    run_check(name, fn)
conn.close()
emit("done", True)
