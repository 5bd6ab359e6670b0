-- As SQLite's migrations/0006_bounce_counted.sql: whether a recorded
-- bounce counted against its recipient.
ALTER TABLE bounces ADD COLUMN counted BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE bounces SET counted = TRUE WHERE permanent AND outbox_id IS NOT NULL AND recipient <> '';
