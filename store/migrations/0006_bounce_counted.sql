-- Whether a recorded bounce counted against its recipient. Only a report
-- to a notification's bounce address that names that notification's
-- recipient with an address-level reason counts; every other report is
-- kept for the record and counts nothing. Rows from before counted when
-- they were permanent and attributed to an outbox row.
ALTER TABLE bounces ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
UPDATE bounces SET counted = 1 WHERE permanent = 1 AND outbox_id IS NOT NULL AND recipient <> '';
