"""A newcomer signs up, funds, creates a key, calls the gateway with it, finds the request in Usage logs, gets the CSV.

One uvicorn serves everything (portal pages, static files, /api/ and the /v1/ gateway), so the
browser and the openai client talk to the same real ASGI server; a demo node answers the request.
"""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from openai import OpenAI

from accounts.models import Membership
from billing.checks import ledger_check
from conftest import fund
from tests.servers import ServerThread
from usage import services
from usage.models import UsageRecord
from usage.tests.conftest import CHEAP_MODEL

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

EMAIL = "yara@example.com"
PASSWORD = "a long and private passphrase"


@pytest.fixture
def server(transactional_db):
    from infer.asgi import application

    served = ServerThread(ASGIStaticFilesHandler(application))
    yield served
    served.stop()


def test_it_takes_a_buyer_from_sign_up_to_a_request_in_the_usage_logs_and_its_csv(
    server, page, node, settings, tmp_path
):
    settings.USAGE_ROLLUP_LAG_SECONDS = 0
    cache.clear()  # allauth's rate limits live in the cache
    url = server.url

    # Sign up and verify the email from the test outbox.
    page.goto(f"{url}/accounts/signup/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.shots("signup")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    [message] = [m for m in mail.outbox if EMAIL in m.to]
    path = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body).group(1)
    page.goto(url + path)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{url}/")
    page.shots("confirmed")

    # Funds arrive (through the ledger); log out and in again, and see them.
    account = Membership.objects.get(user__email=EMAIL, role="owner").account
    fund(account, 4_000_000_000)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.shots("login")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{url}/")
    assert "$4.00" in page.get_by_test_id("balance").inner_text()
    assert "Below $5.00" in page.get_by_test_id("balance-state").inner_text()
    page.shots("dashboard-funded")

    # Create an API key.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Notebook")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key").input_value()
    page.shots("key-created")

    # Call the gateway with it, like any OpenAI client would.
    client = OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0, timeout=30)
    raw = client.chat.completions.with_raw_response.create(
        model=CHEAP_MODEL, messages=[{"role": "user", "content": "Say hello to the usage logs"}], max_tokens=12
    )
    completion = raw.parse()
    request_id = raw.headers["x-request-id"]
    record = UsageRecord.objects.get(request_id=request_id)
    assert record.account_id == account.id
    assert completion.usage.completion_tokens == record.output_tokens > 0

    # Find it in Usage logs, with its breakdown.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Usage").click()
    page.wait_for_url("**/usage/")
    row = page.get_by_test_id(f"usage-{request_id}")
    assert CHEAP_MODEL in row.inner_text() and "gpu-1" in row.inner_text()
    page.shots("usage-logs")
    page.get_by_label("Model").select_option(CHEAP_MODEL)
    page.get_by_label("Status").select_option("success")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/usage/?*")
    assert page.get_by_test_id(f"usage-{request_id}").is_visible()
    page.shots("usage-logs-filtered")
    row.get_by_role("link").click()
    page.wait_for_url(f"**/usage/{request_id}/")
    breakdown = page.get_by_test_id("record-breakdown").inner_text()
    assert f"{record.input_tokens} × $0.0000001" in breakdown
    assert "Operator share" in breakdown and "Platform share" in breakdown
    page.shots("request-breakdown")
    page.go_back()

    # Download the CSV of the filtered list.
    with page.expect_download() as download:
        page.get_by_test_id("csv-download").click()
    saved = tmp_path / "usage.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [row["request_id"] for row in rows] == [request_id]
    assert int(rows[0]["cost_nanos"]) == record.cost_nanos
    assert download.value.suggested_filename.startswith("infer-usage-")

    # The rollup task runs; the dashboard charts today's spend and lists the request.
    services.usage_rollup(now=timezone.now() + timedelta(seconds=1))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"{url}/")
    assert page.get_by_test_id(f"usage-{request_id}").is_visible()
    assert "1 request" in page.get_by_test_id("spend-30d").inner_text()
    page.shots("dashboard-with-spend")
    page.get_by_text("Daily spend as a table", exact=True).click()  # the chart's text alternative
    assert page.get_by_role("cell", name="$0.00", exact=False).first.is_visible()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{url}/usage/")
    page.shots("usage-logs-on-a-phone")
    page.goto(f"{url}/")
    page.shots("dashboard-on-a-phone")
    assert ledger_check().ok
