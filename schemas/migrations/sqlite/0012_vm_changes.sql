-- How many times a subscription's VM records changed: every insert, update and delete of a
-- `protected_vms` row adds one, in the writer's own transaction. The tenant API keeps a
-- subscription's VM list in memory and reads this counter (with the subscription, in the read its
-- authorisation makes anyway) to know whether the list it holds is still the stored one.
-- Subscriptions are never deleted (a deleted one is a tombstone), so the counter never goes back.
ALTER TABLE subscriptions ADD COLUMN vm_changes INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER protected_vms_count_inserts AFTER INSERT ON protected_vms
BEGIN
    UPDATE subscriptions SET vm_changes = vm_changes + 1 WHERE id = NEW.subscription_id;
END;

CREATE TRIGGER protected_vms_count_updates AFTER UPDATE ON protected_vms
BEGIN
    UPDATE subscriptions SET vm_changes = vm_changes + 1
    WHERE id IN (NEW.subscription_id, OLD.subscription_id);
END;

CREATE TRIGGER protected_vms_count_deletes AFTER DELETE ON protected_vms
BEGIN
    UPDATE subscriptions SET vm_changes = vm_changes + 1 WHERE id = OLD.subscription_id;
END;
