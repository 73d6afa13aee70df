"""The portal's usage pages: the dashboard's spend chart and recent requests, Usage logs, one request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import fund
from usage import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, alice, alice_account):
    client.force_login(alice)
    return client


def test_it_shows_the_balance_the_30_day_chart_and_recent_requests(signed_in, alice_account, parked_node, usage_record):
    fund(alice_account, 3_000_000_000)
    now = timezone.now()
    recent = usage_record(alice_account, node=parked_node, created_at=now - timedelta(days=2), output_tokens=4000)
    usage_record(alice_account, node=parked_node, created_at=now - timedelta(days=40))  # outside the chart
    services.usage_rollup(now=now)

    response = signed_in.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "$3.00" in html
    assert "Below $5.00" in html  # the low-balance state
    assert 'role="img"' in html and "Daily spend as a table" in html
    assert html.count('class="bar"') == 30
    assert f"usage-{recent.request_id}" in html
    assert response.context["chart"]["total_nanos"] == recent.cost_nanos
    assert 'href="/usage/"' in html  # the nav link


def test_it_lists_filters_and_pages_the_usage_logs(signed_in, alice_account, parked_node, usage_record, monkeypatch):
    from usage import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    now = timezone.now()
    made = [usage_record(alice_account, node=parked_node, created_at=now - timedelta(minutes=i)) for i in range(3)]
    failed = usage_record(
        alice_account, created_at=now - timedelta(minutes=9), status="error", input_tokens=0, output_tokens=0
    )

    first = signed_in.get("/usage/")
    assert [str(r.request_id) for r in first.context["records"]] == [str(r.request_id) for r in made[:2]]
    second = signed_in.get("/usage/?" + first.context["next_query"])
    assert [r.request_id for r in second.context["records"]] == [made[2].request_id, failed.request_id]
    assert second.context["next_query"] is None

    only_errors = signed_in.get("/usage/", {"status": "error"})
    assert [r.request_id for r in only_errors.context["records"]] == [failed.request_id]
    assert 'href="/api/usage?format=csv&amp;status=error"' in only_errors.content.decode()


def test_it_explains_a_bad_filter_with_400(signed_in):
    response = signed_in.get("/usage/", {"start": "2026-11-20T10:00", "end": "2026-11-20T09:00"})
    assert response.status_code == 400
    assert "must be after" in response.content.decode()


def test_it_shows_one_requests_breakdown(signed_in, alice_account, parked_node, usage_record):
    record = usage_record(alice_account, node=parked_node, input_tokens=1000, output_tokens=200, ttft_ms=42)
    html = signed_in.get(f"/usage/{record.request_id}/").content.decode()
    assert "1000 × $0.0000001 = $0.0001" in html
    assert "$0.000104 to the node’s operator" in html
    assert "$0.000026 to the platform" in html
    assert "42 ms" in html and "gpu-parked" in html


def test_it_answers_another_accounts_request_with_404(signed_in, charlie_account, usage_record):
    theirs = usage_record(charlie_account)
    assert signed_in.get(f"/usage/{theirs.request_id}/").status_code == 404


def test_it_never_lists_another_accounts_requests(signed_in, charlie_account, usage_record):
    usage_record(charlie_account)
    response = signed_in.get("/usage/")
    assert response.context["records"] == []
    assert "No requests yet" in response.content.decode()


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/usage/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
