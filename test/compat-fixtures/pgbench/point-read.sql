-- A point read of one trace, for pgbench -M extended / -M prepared: pgbench binds the
-- variable as parameter $1 (prepared: one named statement per connection).
-- Run with: pgbench -n -M prepared -D trace=tr_000001 -f point-read.sql
SELECT trace_id, risk, summary FROM traces WHERE trace_id = :trace;
