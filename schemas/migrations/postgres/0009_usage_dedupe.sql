-- A usage record's external id is wapdr's own key for what it metered (the usage meter writes
-- `wapdr:{subscription}:{periodStart}`): unique, so a period metered again (after a crash, by two
-- instances, by a webhook start beside the schedule) can never be billed twice.
--
-- Records appended before with a repeated external id keep their EventIds (a collector may hold
-- them already); each copy after the first gets `:{EventId}` added so the index can be built.
UPDATE usage_records
SET external_record_id = external_record_id || ':' || CAST(event_id AS TEXT)
WHERE event_id NOT IN (SELECT MIN(event_id) FROM usage_records GROUP BY external_record_id);

CREATE UNIQUE INDEX usage_records_external_record_id ON usage_records (external_record_id);
