-- The demo trace database (SPEC section 10). traces and trace_steps are the trace
-- tables, keyed by trace_id; customers is a non-trace table no agent may read, even
-- though the proxy's own role can: the policy, not the grant, keeps it out of reach.

CREATE TABLE traces (
  trace_id   text PRIMARY KEY,
  agent_id   text NOT NULL,
  user_email text,
  risk       text NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
  created_at timestamptz NOT NULL,
  summary    text,
  body       jsonb
);

CREATE INDEX traces_agent_id_idx ON traces (agent_id);

CREATE TABLE trace_steps (
  trace_id   text NOT NULL REFERENCES traces (trace_id),
  step       int NOT NULL,
  role       text NOT NULL,
  content    text,
  tool_calls jsonb,
  PRIMARY KEY (trace_id, step)
);

CREATE TABLE customers (
  id      int,
  email   text,
  api_key text
);
