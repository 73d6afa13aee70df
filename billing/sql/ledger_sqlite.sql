-- The embedded SQLite database (make run) has no deferred triggers: it keeps the ledger append-only
-- here, and the zero-sum rule is held by the posting service and verified by check_ledger.
CREATE TRIGGER IF NOT EXISTS billing_entry_no_update BEFORE UPDATE ON billing_entry
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS billing_entry_no_delete BEFORE DELETE ON billing_entry
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS billing_transaction_no_update BEFORE UPDATE ON billing_transaction
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS billing_transaction_no_delete BEFORE DELETE ON billing_transaction
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
