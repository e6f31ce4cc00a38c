"""psycopg 3 (Debian python3-psycopg) through tracegate: see compat_common.py."""

import psycopg

from compat_common import BULK_SQL, READ_SQL, TASK, conninfo, emit, error_info, row_summary, run_check, wait_until_expired

READ = READ_SQL.format(p="%s")
TRACE = TASK["traceId"]


def connect(token):
    return psycopg.connect(**conninfo(token), autocommit=True)


# Opened first so that its token is still valid at login; used last, once expired.
expiring = connect(TASK["expiringToken"])
conn = connect(TASK["token"])


def login():
    value = conn.execute("SELECT 1").fetchone()[0]
    emit("login", value == 1, f"psycopg {psycopg.__version__}, libpq {psycopg.pq.version()}, server {conn.info.server_version}",
         version=psycopg.__version__)


def read():
    # Server-side binding (extended protocol, unnamed statement), text results.
    rows = conn.execute(READ, (TRACE,)).fetchall()
    emit("read", len(rows) == 1, "parameter bound server-side (extended protocol)", rows=[row_summary(r) for r in rows])


def prepared():
    # prepare=True makes psycopg create a named server-side prepared statement at once.
    first = conn.execute(READ, (TRACE,), prepare=True).fetchall()
    again = conn.execute(READ, (TRACE,), prepare=True).fetchall()
    emit("prepared", len(first) == 1 and len(again) == 1, "prepare=True: named statement, executed twice",
         rows=[row_summary(r) for r in again])


def binary():
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(READ, (TRACE,)).fetchall()
        formats = sorted({cur.pgresult.fformat(i) for i in range(cur.pgresult.nfields)})
    emit("binary", len(rows) == 1, f"cursor(binary=True): result formats {formats}", rows=[row_summary(r) for r in rows],
         formats=formats)


def denied():
    try:
        conn.execute(BULK_SQL).fetchall()
        emit("denied", False, "the bulk read was not refused")
    except psycopg.Error as exc:
        emit("denied", True, "", **error_info(exc))
    rows = conn.execute(READ, (TRACE,)).fetchall()
    emit("usable-after-denial", len(rows) == 1, "same connection, next statement")


def denied_prepared():
    # Denied at Bind: the statement is fine, the trace is not the caller's.
    try:
        conn.execute(READ, (TASK["otherTraceId"],), prepare=True).fetchall()
        emit("denied-prepared", False, "the read of another agent's trace was not refused")
    except psycopg.Error as exc:
        emit("denied-prepared", True, "", **error_info(exc))
    rows = conn.execute(READ, (TRACE,), prepare=True).fetchall()
    emit("usable-after-denied-prepared", len(rows) == 1, "same connection, prepared read again")


def transaction():
    # A denial inside a transaction block: the driver's own transaction handling
    # (rollback on error) must leave the connection usable.
    try:
        with conn.transaction():
            conn.execute(READ, (TRACE,)).fetchall()
            conn.execute(BULK_SQL).fetchall()
        emit("transaction", False, "the bulk read was not refused")
        return
    except psycopg.errors.InsufficientPrivilege:
        pass
    rows = conn.execute(READ, (TRACE,)).fetchall()
    emit("transaction", len(rows) == 1, f"denial inside conn.transaction(), rolled back; status {conn.info.transaction_status.name}")


def expiry():
    wait_until_expired()
    try:
        expiring.execute(READ, (TRACE,)).fetchall()
        emit("expired", False, "the session outlived its token")
    except psycopg.Error as exc:
        emit("expired", True, f"connection closed: {expiring.closed}", closed=bool(expiring.closed), **error_info(exc))
    with connect(TASK["freshToken"]) as fresh:
        rows = fresh.execute(READ, (TRACE,)).fetchall()
        emit("reconnect", len(rows) == 1, "new connection with a fresh token")


for name, fn in [("login", login), ("read", read), ("prepared", prepared), ("binary", binary), ("denied", denied),
                 ("denied-prepared", denied_prepared), ("transaction", transaction), ("expired", expiry)]:
    run_check(name, fn)
conn.close()
emit("done", True)
