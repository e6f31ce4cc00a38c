"""asyncpg (Debian python3-asyncpg) through tracegate: see compat_common.py.

asyncpg always uses the extended protocol with named prepared statements (its
statement cache), asks for binary results for every type it has a codec for, and
introspects unknown types from pg_type on first use.
"""

import asyncio
import time

import asyncpg

from compat_common import BULK_SQL, READ_SQL, TASK, emit, error_info, row_summary

READ = READ_SQL.format(p="$1")
TRACE = TASK["traceId"]


async def connect(token, **extra):
    return await asyncpg.connect(host=TASK["host"], port=TASK["port"], user=TASK["user"], database=TASK["database"],
                                 password=token, ssl=False, server_settings={"application_name": "tracegate-compat"}, **extra)


def as_tuple(record):
    return tuple(record.values())


async def main():
    expiring = await connect(TASK["expiringToken"])
    conn = await connect(TASK["token"])

    async def login():
        value = await conn.fetchval("SELECT 1")
        version = conn.get_settings().server_version
        emit("login", value == 1, f"asyncpg {asyncpg.__version__}, server {version}", version=asyncpg.__version__)

    async def read():
        rows = await conn.fetch(READ, TRACE)
        emit("read", len(rows) == 1, "named prepared statement (asyncpg's statement cache)", rows=[row_summary(as_tuple(r)) for r in rows])

    async def prepared():
        stmt = await conn.prepare(READ)
        first = await stmt.fetch(TRACE)
        again = await stmt.fetch(TRACE)
        emit("prepared", len(first) == 1 and len(again) == 1, f"conn.prepare(): statement {stmt.get_name()}, executed twice",
             rows=[row_summary(as_tuple(r)) for r in again])

    async def binary():
        # asyncpg requests binary results for all types with a binary codec (text,
        # timestamptz ...): every read above already was binary. This one also reads
        # jsonb and an array, whose codecs asyncpg resolves from the server's pg_type.
        row = await conn.fetchrow(
            "SELECT trace_id, created_at, body, ARRAY[risk, agent_id] AS tags FROM traces WHERE trace_id = $1", TRACE)
        ok = row is not None and row["trace_id"] == TRACE and isinstance(row["tags"], list)
        emit("binary", ok, "binary result format for text, timestamptz, jsonb and text[]",
             createdAtType=type(row["created_at"]).__name__ if row else None, body=row["body"] if row else None)

    async def denied():
        try:
            await conn.fetch(BULK_SQL)
            emit("denied", False, "the bulk read was not refused")
        except asyncpg.PostgresError as exc:
            emit("denied", True, "", **error_info(exc))
        rows = await conn.fetch(READ, TRACE)
        emit("usable-after-denial", len(rows) == 1, "same connection, next statement")

    async def denied_prepared():
        try:
            await conn.fetch(READ, TASK["otherTraceId"])
            emit("denied-prepared", False, "the read of another agent's trace was not refused")
        except asyncpg.PostgresError as exc:
            emit("denied-prepared", True, "", **error_info(exc))
        rows = await conn.fetch(READ, TRACE)
        emit("usable-after-denied-prepared", len(rows) == 1, "same connection, cached statement again")

    async def transaction():
        try:
            async with conn.transaction():
                await conn.fetch(READ, TRACE)
                await conn.fetch(BULK_SQL)
            emit("transaction", False, "the bulk read was not refused")
            return
        except asyncpg.exceptions.InsufficientPrivilegeError:
            pass
        rows = await conn.fetch(READ, TRACE)
        emit("transaction", len(rows) == 1, "denial inside conn.transaction(), rolled back")

    async def expiry():
        await asyncio.sleep(max(0.0, TASK["expiringAt"] / 1000.0 + 0.3 - time.time()))
        try:
            await expiring.fetch(READ, TRACE)
            emit("expired", False, "the session outlived its token")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError) as exc:
            emit("expired", True, f"connection closed: {expiring.is_closed()}", closed=expiring.is_closed(), **error_info(exc))
        fresh = await connect(TASK["freshToken"])
        try:
            rows = await fresh.fetch(READ, TRACE)
            emit("reconnect", len(rows) == 1, "new connection with a fresh token")
        finally:
            await fresh.close()

    for name, fn in [("login", login), ("read", read), ("prepared", prepared), ("binary", binary), ("denied", denied),
                     ("denied-prepared", denied_prepared), ("transaction", transaction), ("expired", expiry)]:
        try:
            await fn()
        except Exception as exc:  # noqa: BLE001
            emit(name, False, "unexpected error", **error_info(exc))
    await conn.close()
    emit("done", True)


asyncio.run(main())
