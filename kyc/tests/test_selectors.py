"""The contracts payouts rely on: kyc_verified and open_violations_exist."""

from kyc import selectors, services
from kyc.models import Violation


def test_it_is_not_verified_without_a_submission(operator):
    assert selectors.kyc_verified(account=operator) is False


def test_it_is_not_verified_while_pending(submission, operator):
    assert selectors.kyc_verified(account=operator) is False


def test_it_is_verified_once_approved(submission, operator, support):
    services.kyc_submission_approve(submission=submission, actor=support)
    assert selectors.kyc_verified(account=operator) is True


def test_it_is_not_verified_after_a_rejection(submission, operator, support):
    services.kyc_submission_reject(submission=submission, actor=support, reason="The photo is blurred")
    assert selectors.kyc_verified(account=operator) is False


def test_it_sees_an_open_violation_until_resolved(operator, charlie_operator, support):
    assert selectors.open_violations_exist(account=operator) is False
    violation = services.violation_file(
        account=operator, kind=Violation.Kind.ABUSE, severity="low", evidence="Spam output", filed_by=support
    )
    assert selectors.open_violations_exist(account=operator) is True
    assert selectors.open_violations_exist(account=charlie_operator) is False
    services.violation_resolve(violation=violation, actor=support, resolution="Warned the operator")
    assert selectors.open_violations_exist(account=operator) is False
