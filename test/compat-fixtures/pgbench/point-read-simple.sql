-- A point read of one trace, for pgbench -M simple: pgbench pastes the variable's value
-- into the text (inside the quotes), so the statement carries a string literal.
-- Run with: pgbench -n -M simple -D trace=tr_000001 -f point-read-simple.sql
SELECT trace_id, risk, summary FROM traces WHERE trace_id = ':trace';
