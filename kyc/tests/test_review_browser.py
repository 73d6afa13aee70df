"""A support user reviews and approves a KYC submission in the admin (headless Chromium, screenshots)."""

import pytest
from django.core import mail

from kyc.models import KYCSubmission, StaffAction

from .conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_lets_support_review_and_approve_a_submission(live_server, page, support, submission):
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email address").fill(support.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    page.shots("admin-home")

    page.get_by_role("link", name="KYC submissions").first.click()
    page.get_by_role("link", name="Pending review").click()
    page.shots("review-queue")

    page.get_by_role("link", name="Alice's team").click()
    image = page.locator("img.kyc-doc-preview")
    image.wait_for()
    # The image really loaded through the audited view (naturalWidth is 0 for a broken image).
    page.wait_for_function("document.querySelector('img.kyc-doc-preview').naturalWidth > 0")
    assert "Submitted" in page.get_by_test_id("review-status").inner_text()
    page.shots("review-page")

    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".messagelist .success")
    assert "Approved 1 submission" in page.locator(".messagelist").inner_text()
    assert "Approved" in page.get_by_test_id("review-status").inner_text()
    page.shots("approved")

    submission.refresh_from_db()
    assert submission.status == KYCSubmission.Status.APPROVED
    assert submission.decided_by == support
    assert StaffAction.objects.filter(action="kyc_document_viewed", actor=support).count() >= 1
    assert StaffAction.objects.filter(action="kyc_approved", actor=support).count() == 1
    assert [m.subject for m in mail.outbox] == ["[INFER] Identity verified for Alice's team"]


def test_it_lets_an_operator_submit_and_see_a_bad_file_refused(live_server, page, alice, operator, tmp_path):
    from allauth.account.models import EmailAddress

    from .conftest import png_bytes

    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    good = tmp_path / "passport.png"
    good.write_bytes(png_bytes())
    bad = tmp_path / "passport.gif"
    bad.write_bytes(b"GIF89a" + b"\x00" * 64)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="Identity verification").click()
    page.shots("empty-form")

    page.get_by_label("Legal name").fill("Alice Smith")
    page.get_by_label("Date of birth").fill("1990-04-02")
    page.get_by_label("Country").select_option("DE")
    page.get_by_label("Address").fill("Hauptstraße 1\n10115 Berlin")
    page.get_by_label("Identity document").set_input_files(str(bad))
    page.get_by_role("button", name="Submit for review").click()
    assert "Upload a JPEG, PNG or PDF file" in page.locator(".errorlist").inner_text()
    page.shots("bad-file-refused")

    page.get_by_label("Identity document").set_input_files(str(good))
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_selector(".messages .success")
    assert "Under review" in page.get_by_test_id("kyc-status").inner_text()
    page.shots("submitted")
    assert KYCSubmission.objects.get(account=operator).status == "submitted"


def _admin_login(page, live_server, user):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")


def test_it_lets_finance_adjust_a_balance_with_a_reason(live_server, page, finance, funded):
    from billing.checks import ledger_check
    from billing.selectors import buyer_ledger_account
    from billing.services import ledger_rollup

    ledger = buyer_ledger_account(account=funded)
    _admin_login(page, live_server, finance)
    page.goto(f"{live_server.url}/admin/billing/ledgeraccount/")
    page.locator(f"input[name=_selected_action][value='{ledger.pk}']").check()
    page.get_by_label("Action:").select_option("adjust_balance")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Amount (USD):").fill("2.50")
    page.shots("adjust-form")
    page.get_by_role("button", name="Post adjustment").click()
    # No reason: the browser refuses to send the form (the server refuses too: test_ledger_adjustments).
    assert page.locator("textarea[name=reason]:invalid").count() == 1
    page.get_by_label("Reason:").fill("Goodwill credit for the outage on Nov 26 (ticket 812)")
    page.get_by_role("button", name="Post adjustment").click()
    page.wait_for_selector(".messagelist .success")
    page.shots("adjusted")
    ledger.refresh_from_db()
    assert ledger.balance_nanos == 12_500_000_000
    ledger_rollup()
    assert ledger_check().ok


def test_it_lets_support_file_and_resolve_a_violation(live_server, page, support, operator):
    from kyc.models import Violation

    _admin_login(page, live_server, support)
    page.goto(f"{live_server.url}/admin/kyc/violation/add/")
    page.locator(".select2-selection").first.click()
    page.locator(".select2-search__field").fill("Alice")
    page.locator(".select2-results__option", has_text="Alice's team").click()
    page.get_by_label("Kind:").select_option("invalid_output")
    page.get_by_label("Severity:").select_option("medium")
    page.get_by_label("Evidence:").fill("Every answer on 2026-11-26 was the prompt echoed back.")
    page.get_by_label("Usage records:").fill("0b7d3f5e-1111-4aaa-8bbb-000000000001")
    page.shots("file-violation")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector(".messagelist .success")
    violation = Violation.objects.get()
    page.goto(f"{live_server.url}/admin/kyc/violation/{violation.pk}/change/")
    page.get_by_label("How it was resolved").fill("Operator redeployed a fixed build; spot checks pass.")
    page.shots("violation-page")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_selector(".messagelist .success")
    page.shots("resolved")
    violation.refresh_from_db()
    assert violation.status == "resolved" and violation.resolved_by == support
