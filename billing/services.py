"""Writes to the ledger: the one posting service, holds, rollups. Every money movement comes here.

`transactions_post` is the core: it posts many balanced transactions and releases holds in one
database transaction (group commit), each transaction under its own idempotency key. The same key
posted again returns the first transaction; the same key with other legs is an error.
"""

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import BigIntegerField, Case, F, IntegerField, Value, When
from django.utils import timezone

from infer.bounded_cache import BoundedCache
from infer.errors import ApplicationError

from .alerts import alerts_record
from .models import BalanceDelta, Entry, Hold, LedgerAccount, Transaction

MAX_KEY_LENGTH = 200


class LedgerError(ApplicationError):
    """A posting that would break a ledger rule; nothing was written."""

    def __init__(self, message, *, code="ledger_invalid", status_code=400):
        super().__init__(message, code=code, status_code=status_code)


class IdempotencyConflict(LedgerError):
    def __init__(self, key):
        super().__init__(
            f"Idempotency key {key!r} was already used for a different transaction",
            code="idempotency_conflict",
            status_code=409,
        )


@dataclass(frozen=True)
class Posting:
    """A transaction to post: legs of (ledger account id, signed amount in nanos) that sum to zero."""

    idempotency_key: str
    kind: str
    legs: tuple[tuple[int, int], ...]
    memo: str = ""
    reference: str = ""
    release_hold_id: int | None = None


@dataclass
class PostResult:
    transaction_id: int | None = None
    replayed: bool = False
    error: LedgerError | None = None


@dataclass
class BatchResult:
    results: list[PostResult]
    # Eager accounts whose balance changed: id -> (balance before, balance after).
    balance_changes: dict[int, tuple[int, int]] = field(default_factory=dict)
    released_hold_ids: list[int] = field(default_factory=list)
    # Buyer accounts among the changed ones: ledger account id -> owner Account id.
    buyer_owners: dict[int, int] = field(default_factory=dict)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def posting_validate(posting: Posting) -> None:
    """Check a posting's shape before anything is written; raise LedgerError with a clear message."""
    key = posting.idempotency_key
    if not isinstance(key, str) or not key.strip():
        raise LedgerError("An idempotency key is required")
    if len(key) > MAX_KEY_LENGTH:
        raise LedgerError(f"Idempotency key is longer than {MAX_KEY_LENGTH} characters")
    if posting.kind not in Transaction.Kind.values:
        raise LedgerError(f"Unknown transaction kind {posting.kind!r}")
    if len(posting.legs) < 2:
        raise LedgerError("A transaction needs at least two entries")
    seen = set()
    for leg in posting.legs:
        if not isinstance(leg, tuple) or len(leg) != 2:
            raise LedgerError("Each entry is a (ledger account id, amount in nanos) pair")
        account_id, amount = leg
        if not _is_int(account_id) or account_id <= 0:
            raise LedgerError(f"Unknown ledger account {account_id!r}")
        if not _is_int(amount):
            raise LedgerError(f"Amounts are whole nano-dollars, got {amount!r}")
        if amount == 0:
            raise LedgerError("An entry's amount cannot be zero")
        if account_id in seen:
            raise LedgerError("Each ledger account may appear once per transaction")
        seen.add(account_id)
    if sum(amount for _, amount in posting.legs) != 0:
        raise LedgerError("Entries of a transaction must sum to zero")


# Whether an account is deferred never changes, so it is safe to remember per process; bounded, because
# the ledger accounts of every buyer that settles a request in this process pass through here.
_deferred_cache = BoundedCache(20_000)


def _account_modes(account_ids) -> dict[int, bool]:
    modes, missing = {}, []
    for account_id in account_ids:
        deferred = _deferred_cache.get(account_id)
        if deferred is None:
            missing.append(account_id)
        else:
            modes[account_id] = deferred
    if missing:
        for account_id, deferred in LedgerAccount.objects.filter(id__in=missing).values_list("id", "is_deferred"):
            _deferred_cache[account_id] = deferred
            modes[account_id] = deferred
    return modes


def _same_legs(posting: Posting, legs) -> bool:
    return sorted(posting.legs) == sorted(legs)


def _case(values: dict[int, int], output_field):
    return Case(*[When(id=i, then=Value(v)) for i, v in values.items()], default=Value(0), output_field=output_field)


@transaction.atomic(savepoint=False)
def transactions_post(postings, *, hold_releases=()) -> BatchResult:
    """Post `postings` and release `hold_releases` (hold ids) in one database transaction.

    Invalid postings and idempotency conflicts are reported per item (their `error`) and change
    nothing; the others are written. A posting's `release_hold_id` is released with it (also when it
    replays an earlier posting, since its request is over either way). Callers outside a transaction
    use `transaction_post` or `with_ledger_retry`, which retry when a concurrent batch wins a race.
    """
    postings = list(postings)
    results = [PostResult() for _ in postings]
    todo: dict[str, int] = {}  # key -> index of the posting that will write it
    for index, posting in enumerate(postings):
        try:
            posting_validate(posting)
        except LedgerError as exc:
            results[index].error = exc
            continue
        first = todo.get(posting.idempotency_key)
        if first is None:
            todo[posting.idempotency_key] = index
        elif _same_legs(postings[first], posting.legs) and postings[first].kind == posting.kind:
            results[index].replayed = True  # filled with the first one's id below
        else:
            results[index].error = IdempotencyConflict(posting.idempotency_key)

    modes = _account_modes({a for i in todo.values() for a, _ in postings[i].legs})
    for key, index in list(todo.items()):
        unknown = [a for a, _ in postings[index].legs if a not in modes]
        if unknown:
            results[index].error = LedgerError(f"Unknown ledger account {unknown[0]}")
            del todo[key]

    write = _write_postgresql if connection.vendor == "postgresql" and FAST_PATH else _write_portable
    batch = write(postings, results, todo, modes, set(hold_releases))
    if batch.buyer_owners:
        alerts_record(
            changes={
                ledger_id: (owner_id, *batch.balance_changes[ledger_id])
                for ledger_id, owner_id in batch.buyer_owners.items()
            }
        )

    # Replays inside the batch point at the first posting of their key.
    first_ids = {postings[i].idempotency_key: results[i].transaction_id for i in todo.values()}
    for index, posting in enumerate(postings):
        if results[index].replayed and results[index].transaction_id is None:
            results[index].transaction_id = first_ids.get(posting.idempotency_key)
    return batch


# The PostgreSQL writer does in three round trips what the portable one does in nine; tests run both.
FAST_PATH = True


def _resolve_existing(postings, results, todo, keys) -> None:
    """Keys already in the ledger: the same legs replay the first transaction, other legs conflict."""
    existing = {}
    for txn_id, txn_key, txn_kind in Transaction.objects.filter(idempotency_key__in=list(keys)).values_list(
        "id", "idempotency_key", "kind"
    ):
        existing[txn_key] = (txn_id, txn_kind, [])
    by_id = {v[0]: v for v in existing.values()}
    for txn_id, account_id, amount in Entry.objects.filter(transaction_id__in=list(by_id)).values_list(
        "transaction_id", "ledger_account_id", "amount_nanos"
    ):
        by_id[txn_id][2].append((account_id, amount))
    for key, (txn_id, txn_kind, legs) in existing.items():
        index = todo.pop(key)
        posting = postings[index]
        if txn_kind == posting.kind and _same_legs(posting, legs):
            results[index].transaction_id = txn_id
            results[index].replayed = True
        else:
            results[index].error = IdempotencyConflict(key)


def _releases(postings, results, hold_releases) -> set:
    release_ids = set(hold_releases)
    for index, posting in enumerate(postings):
        if posting.release_hold_id is not None and results[index].error is None:
            release_ids.add(posting.release_hold_id)
    return release_ids


def _balance_deltas(postings, todo, modes):
    eager: dict[int, int] = defaultdict(int)
    deferred: dict[int, int] = defaultdict(int)
    for index in todo.values():
        for account_id, amount in postings[index].legs:
            (deferred if modes[account_id] else eager)[account_id] += amount
    return eager, deferred


_INSERT_TRANSACTIONS = """
    INSERT INTO billing_transaction (kind, idempotency_key, memo, reference, created_at)
    SELECT kind, key, memo, reference, %s
      FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS p(kind, key, memo, reference)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key"""

# Lock first, in id order, every account whose cached columns change (eager balances, and accounts
# of holds being released): concurrent batches then queue instead of deadlocking. The race this
# closes: two batches computing a balance (or its holds) from the same row.
_LOCK_ACCOUNTS = """
    SELECT id FROM billing_ledgeraccount
     WHERE id = ANY(%s::bigint[])
        OR id IN (SELECT ledger_account_id FROM billing_hold WHERE id = ANY(%s::bigint[]) AND released_at IS NULL)
     ORDER BY id FOR UPDATE"""

_WRITE = """
    WITH released AS (
        UPDATE billing_hold SET released_at = %s
         WHERE id = ANY(%s::bigint[]) AND released_at IS NULL
        RETURNING id, ledger_account_id, amount_nanos, kind
    ), entries AS (
        INSERT INTO billing_entry (transaction_id, ledger_account_id, amount_nanos)
        SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])
    ), deltas AS (
        INSERT INTO billing_balancedelta (ledger_account_id, amount_nanos)
        SELECT * FROM unnest(%s::bigint[], %s::bigint[])
    ), changes AS (
        SELECT account_id, SUM(balance) AS balance, SUM(held) AS held, SUM(requests) AS requests FROM (
            SELECT account_id, amount AS balance, 0 AS held, 0 AS requests
              FROM unnest(%s::bigint[], %s::bigint[]) AS e(account_id, amount)
            UNION ALL
            SELECT ledger_account_id, 0, amount_nanos, (kind = 'request')::int FROM released
        ) c GROUP BY account_id
    ), updated AS (
        UPDATE billing_ledgeraccount a
           SET balance_nanos = a.balance_nanos + c.balance,
               held_nanos = a.held_nanos - c.held,
               in_flight = a.in_flight - c.requests
          FROM changes c WHERE a.id = c.account_id
        RETURNING a.id, a.balance_nanos - c.balance AS before, a.balance_nanos AS after, c.balance AS moved,
                  CASE WHEN a.kind = 'buyer' THEN a.owner_id END AS buyer_owner
    )
    SELECT 'account', id, before, after, moved, buyer_owner FROM updated
    UNION ALL SELECT 'hold', id, 0, 0, 0, NULL FROM released"""


def _write_postgresql(postings, results, todo, modes, hold_releases) -> BatchResult:
    now = timezone.now()
    with connection.cursor() as cursor:
        if todo:
            order = [postings[i] for i in todo.values()]
            cursor.execute(
                _INSERT_TRANSACTIONS,
                [
                    now,
                    [p.kind for p in order],
                    [p.idempotency_key for p in order],
                    [p.memo[:500] for p in order],
                    [p.reference[:200] for p in order],
                ],
            )
            for txn_id, key in cursor.fetchall():
                results[todo[key]].transaction_id = txn_id
            clashed = [key for key, i in todo.items() if results[i].transaction_id is None]
            if clashed:
                _resolve_existing(postings, results, todo, clashed)
        release_ids = sorted(_releases(postings, results, hold_releases))
        eager, deferred = _balance_deltas(postings, todo, modes)
        if not (todo or release_ids):
            return BatchResult(results=results)
        entry_txn, entry_account, entry_amount = [], [], []
        for index in todo.values():
            for account_id, amount in postings[index].legs:
                entry_txn.append(results[index].transaction_id)
                entry_account.append(account_id)
                entry_amount.append(amount)
        eager_items = sorted((a, d) for a, d in eager.items() if d)
        deferred_items = sorted((a, d) for a, d in deferred.items() if d)
        cursor.execute(_LOCK_ACCOUNTS, [[a for a, _ in eager_items], release_ids])
        cursor.execute(
            _WRITE,
            [
                now,
                release_ids,
                entry_txn,
                entry_account,
                entry_amount,
                [a for a, _ in deferred_items],
                [d for _, d in deferred_items],
                [a for a, _ in eager_items],
                [d for _, d in eager_items],
            ],
        )
        changes, released, owners = {}, [], {}
        for kind, row_id, before, after, moved, buyer_owner in cursor.fetchall():
            if kind == "hold":
                released.append(row_id)
            elif moved:
                changes[row_id] = (before, after)
                if buyer_owner is not None:
                    owners[row_id] = buyer_owner
    return BatchResult(results=results, balance_changes=changes, released_hold_ids=released, buyer_owners=owners)


def _write_portable(postings, results, todo, modes, hold_releases) -> BatchResult:
    """The same writes through the ORM, for SQLite (`make run`); PostgreSQL takes the fast path."""
    if todo:
        existing = set(
            Transaction.objects.filter(idempotency_key__in=list(todo)).values_list("idempotency_key", flat=True)
        )
        if existing:
            _resolve_existing(postings, results, todo, existing)
    release_ids = _releases(postings, results, hold_releases)
    eager, deferred = _balance_deltas(postings, todo, modes)

    hold_accounts = set()
    if release_ids:
        hold_accounts = set(
            Hold.objects.filter(id__in=release_ids, released_at__isnull=True).values_list(
                "ledger_account_id", flat=True
            )
        )
    lock_ids = sorted(set(eager) | hold_accounts)
    before, owners = {}, {}
    if lock_ids:
        for account_id, balance, owner_id, kind in (
            LedgerAccount.objects.select_for_update()
            .filter(id__in=lock_ids)
            .order_by("id")
            .values_list("id", "balance_nanos", "owner_id", "kind")
        ):
            before[account_id] = balance
            if kind == LedgerAccount.Kind.BUYER:
                owners[account_id] = owner_id
    holds = []
    if release_ids:
        holds = list(
            Hold.objects.select_for_update()
            .filter(id__in=release_ids, released_at__isnull=True)
            .order_by("id")
            .values_list("id", "ledger_account_id", "amount_nanos", "kind")
        )

    now = timezone.now()
    if todo:
        order = list(todo.values())
        created = Transaction.objects.bulk_create(
            [
                Transaction(
                    kind=postings[i].kind,
                    idempotency_key=postings[i].idempotency_key,
                    memo=postings[i].memo[:500],
                    reference=postings[i].reference[:200],
                    created_at=now,
                )
                for i in order
            ]
        )
        entries = []
        for i, txn in zip(order, created, strict=True):
            results[i].transaction_id = txn.id
            entries.extend(
                Entry(transaction_id=txn.id, ledger_account_id=a, amount_nanos=amount) for a, amount in postings[i].legs
            )
        Entry.objects.bulk_create(entries)
    if deferred:
        BalanceDelta.objects.bulk_create(
            [BalanceDelta(ledger_account_id=a, amount_nanos=d) for a, d in sorted(deferred.items()) if d]
        )

    held = defaultdict(int)
    in_flight = defaultdict(int)
    for _hold_id, account_id, amount, kind in holds:
        held[account_id] += amount
        if kind == Hold.Kind.REQUEST:
            in_flight[account_id] += 1
    if holds:
        Hold.objects.filter(id__in=[h[0] for h in holds]).update(released_at=now)
    touched = set(eager) | set(held)
    if touched:
        updates = {}
        if eager:
            updates["balance_nanos"] = F("balance_nanos") + _case(eager, BigIntegerField())
        if held:
            updates["held_nanos"] = F("held_nanos") - _case(held, BigIntegerField())
            updates["in_flight"] = F("in_flight") - _case(in_flight, IntegerField())
        LedgerAccount.objects.filter(id__in=sorted(touched)).update(**updates)

    changes = {a: (before[a], before[a] + d) for a, d in eager.items() if d}
    return BatchResult(
        results=results,
        balance_changes=changes,
        released_hold_ids=[h[0] for h in holds],
        buyer_owners={a: owners[a] for a in changes if a in owners},
    )


def _is_retryable(exc: Exception) -> bool:
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(exc, IntegrityError):
        return sqlstate == "23505"  # unique violation: a concurrent batch posted the same key first
    return sqlstate in ("40P01", "40001")  # deadlock, serialization failure


def with_ledger_retry(fn, *, attempts: int = 5):
    """Run `fn` (which opens its own atomic block) again when it lost a race to a concurrent batch."""
    if connection.in_atomic_block:
        return fn()  # the caller's transaction decides; retrying inside it is impossible
    for attempt in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts - 1 or not _is_retryable(exc):
                raise
            time.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")


def transaction_post(
    *, idempotency_key: str, kind: str, legs, memo: str = "", reference: str = "", release_hold_id=None
) -> PostResult:
    """Post one balanced transaction; the same key again returns the first one (`replayed`)."""
    posting = Posting(
        idempotency_key=idempotency_key,
        kind=kind,
        legs=tuple(tuple(leg) for leg in legs),
        memo=memo,
        reference=reference,
        release_hold_id=release_hold_id,
    )
    batch = with_ledger_retry(lambda: transactions_post([posting]))
    result = batch.results[0]
    if result.error is not None:
        raise result.error
    return result


# --- Ledger accounts ---------------------------------------------------------------------------------

SYSTEM_ACCOUNTS = {
    "platform:revenue": LedgerAccount.Kind.PLATFORM_REVENUE,
    "clearing:card": LedgerAccount.Kind.CARD_CLEARING,
    "clearing:payouts": LedgerAccount.Kind.PAYOUT_CLEARING,
    "payouts:sent": LedgerAccount.Kind.PAYOUTS_SENT,
    "adjustments": LedgerAccount.Kind.ADJUSTMENTS,
}


def system_account_key_for_chain(network: str) -> str:
    return f"clearing:chain:{network}"


_system_ids: dict[str, int] = {}


def system_ledger_account_id(key: str) -> int:
    """Id of a platform-owned account ("platform:revenue", "clearing:card", ...), created on first use."""
    if key not in _system_ids:
        if key.startswith("clearing:chain:"):
            kind = LedgerAccount.Kind.CHAIN_CLEARING
        else:
            kind = SYSTEM_ACCOUNTS[key]
        account, _ = LedgerAccount.objects.get_or_create(key=key, defaults={"kind": kind, "is_deferred": True})
        _system_ids[key] = account.id
    return _system_ids[key]


def ledger_accounts_ensure(*, account) -> None:
    """Give an Account the ledger accounts its roles need (buyer balance, operator earnings)."""
    if account.is_buyer:
        LedgerAccount.objects.get_or_create(
            key=f"buyer:{account.id}",
            defaults={"kind": LedgerAccount.Kind.BUYER, "owner": account, "is_deferred": False},
        )
    if account.is_operator:
        LedgerAccount.objects.get_or_create(
            key=f"operator:{account.id}",
            defaults={"kind": LedgerAccount.Kind.OPERATOR_EARNINGS, "owner": account, "is_deferred": True},
        )


# --- Holds -----------------------------------------------------------------------------------------


class AdmissionRefused(ApplicationError):
    def __init__(self, message, *, code):
        super().__init__(message, code=code, status_code=402)


@transaction.atomic
def hold_place(
    *, ledger_account_id: int, amount_nanos: int, key: str, kind=Hold.Kind.REQUEST, ttl_seconds=None
) -> Hold:
    """Reserve `amount_nanos` on an account whose available balance is positive, or refuse (402).

    One conditional UPDATE decides admission and takes the hold, so concurrent requests can never
    all pass on the same available balance: each sees the holds of those admitted before it.
    """
    if not _is_int(amount_nanos) or amount_nanos < 0:
        raise LedgerError(f"Hold amount must be a non-negative integer of nanos, got {amount_nanos!r}")
    counts = kind == Hold.Kind.REQUEST
    eligible = LedgerAccount.objects.filter(id=ledger_account_id, balance_nanos__gt=F("held_nanos"))
    if counts:
        eligible = eligible.filter(in_flight__lt=settings.MAX_IN_FLIGHT_PER_ACCOUNT)
    updated = eligible.update(held_nanos=F("held_nanos") + amount_nanos, in_flight=F("in_flight") + int(counts))
    if not updated:
        row = (
            LedgerAccount.objects.filter(id=ledger_account_id)
            .values("balance_nanos", "held_nanos", "in_flight")
            .first()
        )
        if row is None:
            raise LedgerError(f"Unknown ledger account {ledger_account_id}")
        if row["balance_nanos"] - row["held_nanos"] <= 0:
            raise AdmissionRefused(
                "Your balance is used up: add funds to continue making requests.", code="insufficient_balance"
            )
        raise AdmissionRefused(
            f"Too many requests in flight for this account (limit {settings.MAX_IN_FLIGHT_PER_ACCOUNT}).",
            code="in_flight_limit",
        )
    now = timezone.now()
    ttl = settings.HOLD_TIMEOUT_SECONDS if ttl_seconds is None else ttl_seconds
    return Hold.objects.create(
        ledger_account_id=ledger_account_id,
        kind=kind,
        key=key,
        amount_nanos=amount_nanos,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def hold_refusal(ledger_account_id: int):
    row = LedgerAccount.objects.filter(id=ledger_account_id).values("balance_nanos", "held_nanos", "in_flight").first()
    if row is None:
        return LedgerError(f"Unknown ledger account {ledger_account_id}")
    if row["balance_nanos"] - row["held_nanos"] <= 0:
        return AdmissionRefused(
            "Your balance is used up: add funds to continue making requests.", code="insufficient_balance"
        )
    return AdmissionRefused(
        f"Too many requests in flight for this account (limit {settings.MAX_IN_FLIGHT_PER_ACCOUNT}).",
        code="in_flight_limit",
    )


HOLD_PLACE_SQL = """
    WITH admitted AS (
        UPDATE billing_ledgeraccount SET held_nanos = held_nanos + %(amount)s, in_flight = in_flight + 1
        WHERE id = %(account)s AND balance_nanos > held_nanos AND in_flight < %(limit)s
        RETURNING id
    )
    INSERT INTO billing_hold (ledger_account_id, kind, key, amount_nanos, created_at, expires_at)
    SELECT id, 'request', %(key)s, %(amount)s, %(now)s, %(expires)s FROM admitted
    RETURNING id"""


def hold_place_request(*, ledger_account_id: int, amount_nanos: int, key: str) -> int:
    """`hold_place` for the gateway's request path; returns the hold's id. Same rule, cheaper commit.

    On PostgreSQL the one conditional UPDATE that decides admission and the hold's INSERT are one
    statement, committed with synchronous_commit off: the hold is visible to every other admission at
    once (that is what bounds the overdraft) but its commit does not wait for the disk. A crash can
    lose only holds whose requests died with it (the balance row's held_nanos is lost with them, in
    the same transaction), and the settlement that releases a hold commits synchronously, which
    flushes the hold's WAL first. Elsewhere (SQLite in `make run`) this is `hold_place`.
    """
    if connection.vendor != "postgresql":
        return hold_place(ledger_account_id=ledger_account_id, amount_nanos=amount_nanos, key=key).id
    if not _is_int(amount_nanos) or amount_nanos < 0:
        raise LedgerError(f"Hold amount must be a non-negative integer of nanos, got {amount_nanos!r}")
    now = timezone.now()
    params = {
        "amount": amount_nanos,
        "account": ledger_account_id,
        "limit": settings.MAX_IN_FLIGHT_PER_ACCOUNT,
        "key": key,
        "now": now,
        "expires": now + timedelta(seconds=settings.HOLD_TIMEOUT_SECONDS),
    }
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(HOLD_PLACE_SQL, params)  # the caller's transaction decides how it commits
        elif type(cursor.cursor).__name__ == "ClientCursor":
            # One round trip: a multi-statement query runs as one implicit transaction, so SET LOCAL
            # applies to this statement alone.
            cursor.execute("SET LOCAL synchronous_commit TO OFF; " + HOLD_PLACE_SQL, params)
            cursor.nextset()
        else:
            with transaction.atomic():
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(HOLD_PLACE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        raise hold_refusal(ledger_account_id)
    return row[0]


def hold_release(*, hold_id: int) -> bool:
    """Release a hold without moving money (a request that cost nothing); True if it was open."""
    batch = with_ledger_retry(lambda: transactions_post([], hold_releases=[hold_id]))
    return bool(batch.released_hold_ids)


def holds_expire(*, now=None, limit: int = 1000) -> int:
    """Release request holds past their expiry: their requests died without settling."""
    now = now or timezone.now()
    ids = list(
        Hold.objects.filter(released_at__isnull=True, expires_at__lte=now)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    batch = with_ledger_retry(lambda: transactions_post([], hold_releases=ids))
    return len(batch.released_hold_ids)


# --- Rollup of deferred accounts ---------------------------------------------------------------------


def ledger_rollup(*, limit: int = 50_000) -> int:
    """Fold pending deltas of deferred accounts into their cached balances; returns deltas folded."""

    @transaction.atomic
    def fold():
        qs = BalanceDelta.objects.order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.values_list("id", "ledger_account_id", "amount_nanos")[:limit])
        if not rows:
            return 0
        totals = defaultdict(int)
        for _, account_id, amount in rows:
            totals[account_id] += amount
        BalanceDelta.objects.filter(id__in=[r[0] for r in rows]).delete()
        for account_id in sorted(totals):
            if totals[account_id]:
                LedgerAccount.objects.filter(id=account_id).update(
                    balance_nanos=F("balance_nanos") + totals[account_id]
                )
        return len(rows)

    total = 0
    while True:
        folded = with_ledger_retry(fold)
        total += folded
        if folded < limit:
            return total
