-- Ledger invariants enforced by PostgreSQL itself (loaded by billing/migrations/0002_ledger_triggers.py).

-- 1. Every transaction's entries sum to zero, checked at commit (deferred) so a transaction's legs
--    can be inserted one statement at a time. Also refuses a transaction with fewer than two legs.
CREATE OR REPLACE FUNCTION billing_transaction_check_balanced() RETURNS trigger AS $$
DECLARE
    txn_id bigint;
    total numeric;
    legs integer;
BEGIN
    IF TG_TABLE_NAME = 'billing_entry' THEN
        txn_id := NEW.transaction_id;
    ELSE
        txn_id := NEW.id;
    END IF;
    SELECT COALESCE(SUM(amount_nanos), 0), COUNT(*) INTO total, legs
      FROM billing_entry WHERE transaction_id = txn_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its entries sum to % nanos', txn_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    IF legs < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; a transaction needs at least two', txn_id, legs
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS billing_entry_balanced ON billing_entry;
CREATE CONSTRAINT TRIGGER billing_entry_balanced
    AFTER INSERT ON billing_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_transaction_check_balanced();

DROP TRIGGER IF EXISTS billing_transaction_has_entries ON billing_transaction;
CREATE CONSTRAINT TRIGGER billing_transaction_has_entries
    AFTER INSERT ON billing_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_transaction_check_balanced();

-- 2. The ledger is append-only: a correction is a new transaction, never an edit.
CREATE OR REPLACE FUNCTION billing_ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS billing_entry_append_only ON billing_entry;
CREATE TRIGGER billing_entry_append_only
    BEFORE UPDATE OR DELETE ON billing_entry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_refuse_change();

DROP TRIGGER IF EXISTS billing_transaction_append_only ON billing_transaction;
CREATE TRIGGER billing_transaction_append_only
    BEFORE UPDATE OR DELETE ON billing_transaction
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_refuse_change();
