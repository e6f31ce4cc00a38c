-- pgbench script: a point read of one trace by its id, the read an agent makes most.
-- :tid comes from `pgbench -D tid=tr_000011`; with -M extended it travels as a Bind
-- parameter ($1, type unspecified), so tracegate pins the trace from the parameter value.
-- tr_000011 belongs to agent-a, is low risk (the bench token's reads need no approval)
-- and has a median-sized body (2,173 bytes of JSON).
SELECT trace_id, agent_id, user_email, risk, created_at, summary, body FROM traces WHERE trace_id = :tid;
