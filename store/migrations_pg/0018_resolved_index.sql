-- Only resolved cases wait to be closed automatically, and only they are
-- looked up by resolved_at. The index held every case, so a new case and
-- every change between the open states wrote an entry that no query
-- reads; it now holds the resolved ones alone. It keeps state as its
-- first column, constant as it now is, so that the planner still prefers
-- it to cases_state for the look-up (state = 'resolved' AND resolved_at
-- <= ?) and reads it in order.
DROP INDEX cases_resolved;
CREATE INDEX cases_resolved ON cases (state, resolved_at) WHERE state = 'resolved';
