"""Shared plumbing for the compatibility programs the suite runs as real processes.

Each program reads its task from the TRACEGATE_COMPAT environment variable (JSON, see
test/integration/compat/harness.ts) and prints one JSON line per check on stdout:
{"check": NAME, "ok": true|false, "detail": TEXT, ...}. The test decides what passes;
a program only reports what the driver did, including the driver's own error class
and SQLSTATE, so the test can insist on the driver's *native* error.
"""

import json
import os
import sys
import time
import traceback

TASK = json.loads(os.environ["TRACEGATE_COMPAT"])

# The read every client makes: one trace, pinned by a bound parameter. user_email is
# masked by a column rule and summary carries a phone number and a card number that
# the detectors mask, so the rows show whether masking happened in this format.
READ_SQL = (
    "SELECT trace_id, agent_id, user_email, risk, created_at, summary "
    "FROM traces WHERE trace_id = {p}"
)
# Reads every trace: the policy denies it (not pinned to one trace).
BULK_SQL = "SELECT trace_id, user_email FROM traces"


def emit(check, ok, detail="", **extra):
    line = {"check": check, "ok": bool(ok), "detail": str(detail)}
    line.update(extra)
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


def error_info(exc):
    """The driver's own description of an error: its class and SQLSTATE."""
    sqlstate = (
        getattr(exc, "sqlstate", None)
        or getattr(exc, "pgcode", None)
        or getattr(getattr(exc, "diag", None), "sqlstate", None)
    )
    return {
        "errorClass": type(exc).__module__ + "." + type(exc).__qualname__,
        "sqlstate": sqlstate,
        # The whole text: libpq puts a FATAL's own message and "server closed the
        # connection" on separate lines, in either order.
        "message": str(exc).strip()[:1000],
    }


def row_summary(row):
    """What the test checks in a returned trace row (never the row itself)."""
    trace_id, agent_id, user_email, risk, created_at, summary = row
    return {
        "traceId": trace_id,
        "agentId": agent_id,
        "email": user_email,
        "risk": risk,
        "createdAtType": type(created_at).__name__,
        "createdAt": created_at.isoformat() if hasattr(created_at, "isoformat") else str(created_at),
        "summary": summary,
    }


def run_check(name, fn):
    """Runs one check; an unexpected exception is a failed check, not a crash."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        emit(name, False, "unexpected error", **error_info(exc), trace=traceback.format_exc(limit=3))


def wait_until_expired():
    """Sleeps until the expiring token is past its exp (with a little margin)."""
    remaining = TASK["expiringAt"] / 1000.0 + 0.3 - time.time()
    if remaining > 0:
        time.sleep(remaining)


def conninfo(token, **extra):
    params = {
        "host": TASK["host"],
        "port": TASK["port"],
        "user": TASK["user"],
        "dbname": TASK["database"],
        "password": token,
        "sslmode": "disable",
        "application_name": TASK.get("applicationName", "tracegate-compat"),
    }
    params.update(extra)
    return params
