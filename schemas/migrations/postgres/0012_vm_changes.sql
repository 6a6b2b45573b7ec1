-- How many times a subscription's VM records changed: every insert, update and delete of a
-- `protected_vms` row adds one, in the writer's own transaction. The tenant API keeps a
-- subscription's VM list in memory and reads this counter (with the subscription, in the read its
-- authorisation makes anyway) to know whether the list it holds is still the stored one; a write
-- through any instance moves the counter, so every instance sharing the database sees it.
-- Subscriptions are never deleted (a deleted one is a tombstone), so the counter never goes back.
ALTER TABLE subscriptions ADD COLUMN vm_changes BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION wapdr_count_vm_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An update moving a VM to another subscription changes both lists.
    IF TG_OP = 'INSERT' THEN
        UPDATE subscriptions SET vm_changes = vm_changes + 1 WHERE id = NEW.subscription_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE subscriptions SET vm_changes = vm_changes + 1 WHERE id = OLD.subscription_id;
    ELSE
        UPDATE subscriptions SET vm_changes = vm_changes + 1
        WHERE id IN (NEW.subscription_id, OLD.subscription_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER protected_vms_count_changes
AFTER INSERT OR UPDATE OR DELETE ON protected_vms
FOR EACH ROW EXECUTE FUNCTION wapdr_count_vm_change();
