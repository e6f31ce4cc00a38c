-- Reads every trace: tracegate refuses it (42501), and pgbench ends the client.
SELECT trace_id, user_email FROM traces;
