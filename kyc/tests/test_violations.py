"""Violations: filed by staff in the admin or by the metering check; high ones stop routing; resolved with a note."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CatalogModel, Tier
from kyc import services
from kyc.models import StaffAction, Violation
from kyc.tasks import metering_disagreements_check_task
from usage.models import Node, UsageRecord
from usage.services import node_create


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


@pytest.fixture
def nodes(operator):
    return [node_create(account=operator, name=f"gpu-{i}", base_url=f"http://10.0.0.{i}:8000/v1") for i in (1, 2)]


def _catalog_model():
    # Transactional tests elsewhere flush the catalog the migrations seed; do not depend on it.
    tier, _ = Tier.objects.get_or_create(
        slug="kyc-test", defaults={"name": "Test", "input_price_nanos": 100, "output_price_nanos": 150}
    )
    model, _ = CatalogModel.objects.get_or_create(
        model_id="kyc-test-model", defaults={"display_name": "Test", "tier": tier, "context_length": 4096}
    )
    return model


def _disputed(node, buyer_account, count, *, ago=timedelta(minutes=5), disputed=True):
    model = _catalog_model()
    return [
        UsageRecord.objects.create(
            request_id=uuid.uuid4(),
            account=buyer_account,
            model=model,
            node=node,
            status=UsageRecord.Status.SUCCESS,
            input_tokens=10,
            output_tokens=10,
            node_input_tokens=10,
            node_output_tokens=90 if disputed else 10,
            metering_disagreement=disputed,
            created_at=timezone.now() - ago,
        )
        for _ in range(count)
    ]


def test_it_lets_support_file_a_violation_in_the_admin(support_client, support, operator):
    response = support_client.post(
        "/admin/kyc/violation/add/",
        {
            "account": operator.pk,
            "kind": "invalid_output",
            "severity": "medium",
            "evidence": "Returned lorem ipsum for every prompt on 2026-11-20",
            "usage_request_ids": "3f1c2a6e-0000-4000-8000-000000000001\n\n3f1c2a6e-0000-4000-8000-000000000002\n",
        },
    )
    assert response.status_code == 302
    violation = Violation.objects.get()
    assert (violation.kind, violation.severity, violation.status) == ("invalid_output", "medium", "open")
    assert violation.filed_by == support and not violation.is_automatic
    assert violation.usage_request_ids == [
        "3f1c2a6e-0000-4000-8000-000000000001",
        "3f1c2a6e-0000-4000-8000-000000000002",
    ]
    assert StaffAction.objects.filter(action="violation_filed", actor=support).exists()
    page = support_client.get(f"/admin/kyc/violation/{violation.pk}/change/")
    assert b"3f1c2a6e-0000-4000-8000-000000000002" in page.content
    assert b'name="evidence"' not in page.content  # a filed violation is a record, not a draft


def test_it_refuses_violations_against_buyer_only_accounts(support_client, charlie_account):
    response = support_client.post(
        "/admin/kyc/violation/add/",
        {"account": charlie_account.pk, "kind": "abuse", "severity": "low", "evidence": "x", "usage_request_ids": ""},
    )
    assert response.status_code == 200
    assert b"Violations are filed against operator accounts" in response.content
    assert not Violation.objects.exists()


def test_it_requires_evidence(support_client, operator):
    response = support_client.post(
        "/admin/kyc/violation/add/",
        {"account": operator.pk, "kind": "abuse", "severity": "low", "evidence": "", "usage_request_ids": ""},
    )
    assert response.status_code == 200
    assert not Violation.objects.exists()


def test_it_lets_finance_see_violations_but_not_file_them(client, finance, operator):
    client.force_login(finance)
    assert client.get("/admin/kyc/violation/").status_code == 200
    assert client.get("/admin/kyc/violation/add/").status_code == 403


def test_it_takes_nodes_out_of_routing_for_a_high_violation_and_restores_them(support, operator, nodes):
    violation = services.violation_file(
        account=operator, kind="chargeback_fraud", severity="high", evidence="Stolen cards", filed_by=support
    )
    assert violation.nodes_suspended
    assert set(Node.objects.values_list("status", flat=True)) == {"suspended"}
    services.violation_resolve(violation=violation, actor=support, resolution="Cleared after investigation")
    assert set(Node.objects.values_list("status", flat=True)) == {"active"}


def test_it_keeps_nodes_suspended_while_another_high_violation_is_open(support, operator, nodes):
    first = services.violation_file(account=operator, kind="abuse", severity="high", evidence="one", filed_by=support)
    services.violation_file(account=operator, kind="abuse", severity="high", evidence="two", filed_by=support)
    services.violation_resolve(violation=first, actor=support, resolution="done")
    assert set(Node.objects.values_list("status", flat=True)) == {"suspended"}


def test_it_leaves_nodes_routing_for_a_low_violation(support, operator, nodes):
    services.violation_file(account=operator, kind="other", severity="low", evidence="late reply", filed_by=support)
    assert set(Node.objects.values_list("status", flat=True)) == {"active"}


def test_it_requires_a_note_to_resolve(support_client, support, operator):
    violation = services.violation_file(account=operator, kind="abuse", severity="low", evidence="x", filed_by=support)
    response = support_client.post(f"/admin/kyc/violation/{violation.pk}/resolve/", {"resolution": " "})
    assert response.status_code == 200
    violation.refresh_from_db()
    assert violation.status == "open"
    response = support_client.post(f"/admin/kyc/violation/{violation.pk}/resolve/", {"resolution": "Operator fixed it"})
    assert response.status_code == 302
    violation.refresh_from_db()
    assert (violation.status, violation.resolved_by, violation.resolution) == ("resolved", support, "Operator fixed it")
    assert violation.resolved_at is not None
    assert StaffAction.objects.filter(action="violation_resolved", reason="Operator fixed it").exists()


def test_it_files_one_automatic_violation_past_the_threshold(settings, operator, charlie_account, nodes):
    settings.KYC_METERING_DISAGREEMENTS_THRESHOLD = 5
    records = _disputed(nodes[0], charlie_account, 3) + _disputed(nodes[1], charlie_account, 2)
    _disputed(nodes[0], charlie_account, 10, disputed=False)
    filed = metering_disagreements_check_task()
    assert len(filed) == 1
    violation = Violation.objects.get()
    assert violation.is_automatic and violation.filed_by is None
    assert violation.kind == "metering_disagreement" and violation.severity == "medium"
    assert "5 usage records" in violation.evidence
    assert set(violation.usage_request_ids) == {str(r.request_id) for r in records}
    assert metering_disagreements_check_task() == []  # one open automatic violation at a time


def test_it_ignores_disagreements_below_the_threshold_or_outside_the_window(settings, operator, charlie_account, nodes):
    settings.KYC_METERING_DISAGREEMENTS_THRESHOLD = 5
    settings.KYC_METERING_WINDOW_SECONDS = 3600
    _disputed(nodes[0], charlie_account, 4)
    _disputed(nodes[0], charlie_account, 5, ago=timedelta(hours=2))
    assert metering_disagreements_check_task() == []
    assert not Violation.objects.exists()


def test_it_suspends_nodes_when_automatic_violations_are_high(settings, operator, charlie_account, nodes):
    settings.KYC_METERING_DISAGREEMENTS_THRESHOLD = 2
    settings.KYC_METERING_VIOLATION_SEVERITY = "high"
    _disputed(nodes[0], charlie_account, 2)
    metering_disagreements_check_task()
    assert set(Node.objects.values_list("status", flat=True)) == {"suspended"}
