-- As SQLite's migrations/0007_send_windows.sql: the circuit breaker's
-- per-domain windows.
CREATE TABLE send_windows (
	domain   TEXT   NOT NULL,
	start_ms BIGINT NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (domain, start_ms)
);
CREATE INDEX send_windows_start ON send_windows (start_ms);
