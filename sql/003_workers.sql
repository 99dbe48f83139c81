-- Live worker processes. Each worker heartbeats its row; capacity in /stats is the sum
-- of concurrency over workers seen recently, and a running job whose worker went
-- quiet is handed back to the queue.
CREATE TABLE ai_workers (
    worker_id    text PRIMARY KEY,
    concurrency  integer NOT NULL CHECK (concurrency > 0),
    queues       text[] NOT NULL DEFAULT '{}',
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ai_workers_heartbeat ON ai_workers (heartbeat_at);
