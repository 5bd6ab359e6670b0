-- As SQLite's migrations/0009_delivery_reports.sql: what came back about
-- a notification (failed | delayed), why, and the remote answer.
ALTER TABLE bounces ADD COLUMN kind   TEXT NOT NULL DEFAULT 'failed';
ALTER TABLE bounces ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE bounces ADD COLUMN detail TEXT NOT NULL DEFAULT '';
