-- The circuit breaker's per-domain windows: how many notifications were
-- scheduled to each recipient domain in each window of
-- outbound.circuit_breaker_window (fixed windows, one after the other). A
-- domain over its limit gets its further mail scheduled into
-- the next window with room, spread over it.
CREATE TABLE send_windows (
	domain   TEXT    NOT NULL,
	start_ms INTEGER NOT NULL, -- the window's start, Unix ms
	n        INTEGER NOT NULL,
	PRIMARY KEY (domain, start_ms)
);
CREATE INDEX send_windows_start ON send_windows (start_ms);
