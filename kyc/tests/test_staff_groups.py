"""Each staff group can do what it must and nothing more (permissions and what the admin allows)."""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from billing.models import LedgerAccount
from billing.selectors import buyer_ledger_account
from kyc.roles import staff_groups_sync

from .conftest import PASSWORD


def _perms(user):
    user = type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance
    return user.get_all_permissions()


def test_it_creates_both_groups_with_their_permissions(db):
    support = set(Group.objects.get(name="support").permissions.values_list("codename", flat=True))
    finance = set(Group.objects.get(name="finance").permissions.values_list("codename", flat=True))
    assert {"review_kycsubmission", "view_kycdocument", "add_violation", "view_ledgeraccount"} <= support
    assert {"add_ledgeradjustment", "view_ledgeradjustment", "view_ledgeraccount", "view_violation"} <= finance


def test_it_keeps_support_read_only_on_money(support):
    perms = _perms(support)
    assert "billing.view_ledgeraccount" in perms and "billing.view_transaction" in perms
    money = [p for p in perms if p.startswith("billing.") and not p.startswith("billing.view_")]
    assert money == []
    assert "kyc.add_ledgeradjustment" not in perms


def test_it_gives_support_no_payout_permission_even_once_payouts_exist(support, finance):
    # The payouts models may not be merged yet: make their permissions exist, as migrate would.
    content_type, _ = ContentType.objects.get_or_create(app_label="payouts", model="payout")
    for codename in ("view_payout", "change_payout", "approve_payout", "delete_payout"):
        Permission.objects.get_or_create(content_type=content_type, codename=codename, defaults={"name": codename})
    staff_groups_sync()
    assert not [p for p in _perms(support) if p.startswith("payouts.")]
    finance_perms = _perms(finance)
    assert {"payouts.view_payout", "payouts.change_payout", "payouts.approve_payout"} <= finance_perms
    assert "payouts.delete_payout" not in finance_perms


def test_it_gives_finance_no_kyc_review_or_documents(finance):
    perms = _perms(finance)
    assert "kyc.review_kycsubmission" not in perms
    assert "kyc.view_kycdocument" not in perms
    assert "kyc.view_kycsubmission" not in perms


def test_it_lets_support_into_the_review_queue_but_not_finance(client, support, finance, submission):
    client.login(email=support.email, password=PASSWORD)
    assert client.get("/admin/kyc/kycsubmission/").status_code == 200
    client.login(email=finance.email, password=PASSWORD)
    assert client.get("/admin/kyc/kycsubmission/").status_code == 403
    assert client.post(f"/admin/kyc/kycsubmission/{submission.pk}/approve/").status_code == 403
    submission.refresh_from_db()
    assert submission.status == "submitted"


def test_it_shows_the_adjust_action_to_finance_only(client, support, finance, funded):
    client.login(email=support.email, password=PASSWORD)
    page = client.get("/admin/billing/ledgeraccount/")
    assert page.status_code == 200
    assert b"adjust_balance" not in page.content
    client.login(email=finance.email, password=PASSWORD)
    assert b"adjust_balance" in client.get("/admin/billing/ledgeraccount/").content


def test_it_refuses_the_adjust_action_to_support(client, support, funded):
    ledger = buyer_ledger_account(account=funded)
    client.login(email=support.email, password=PASSWORD)
    response = client.post(
        "/admin/billing/ledgeraccount/",
        {"action": "adjust_balance", "_selected_action": [ledger.pk], "amount": "5", "reason": "goodwill"},
    )
    assert response.status_code in (200, 302)
    ledger.refresh_from_db()
    assert ledger.balance_nanos == 10_000_000_000
    assert not LedgerAccount.objects.filter(key="adjustments", entries__transaction__memo="goodwill").exists()


def test_it_refuses_edits_of_the_ledger_to_every_group(client, support, finance):
    for user in (support, finance):
        client.login(email=user.email, password=PASSWORD)
        assert client.get("/admin/billing/transaction/add/").status_code == 403
        assert client.get("/admin/billing/ledgeraccount/add/").status_code == 403


def test_it_shows_the_audit_log_to_superusers_only(client, support, finance, superuser):
    for user in (support, finance):
        client.login(email=user.email, password=PASSWORD)
        assert client.get("/admin/kyc/staffaction/").status_code == 403
    client.login(email=superuser.email, password=PASSWORD)
    assert client.get("/admin/kyc/staffaction/").status_code == 200


def test_it_re_adds_missing_permissions_without_removing_extras(db):
    group = Group.objects.get(name="support")
    extra = Permission.objects.get(codename="view_apikey", content_type__app_label="accounts")
    group.permissions.add(extra)
    group.permissions.remove(Permission.objects.get(codename="review_kycsubmission"))
    staff_groups_sync()
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"review_kycsubmission", "view_apikey"} <= codenames


def test_it_lets_both_groups_read_usage_evidence_but_not_change_it(support, finance):
    for user in (support, finance):
        perms = _perms(user)
        assert {"usage.view_usagerecord", "usage.view_node"} <= perms
        assert not [p for p in perms if p.startswith("usage.") and not p.startswith("usage.view_")]
