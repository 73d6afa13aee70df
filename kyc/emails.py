"""One function per email that kyc sends: the operator hears of each KYC decision."""

from accounts.selectors import account_manager_emails
from infer.mail import send_templated


def send_kyc_approved(submission) -> None:
    send_templated(
        to=account_manager_emails(account=submission.account),
        template="kyc_approved",
        context={"submission": submission},
    )


def send_kyc_rejected(submission) -> None:
    send_templated(
        to=account_manager_emails(account=submission.account),
        template="kyc_rejected",
        context={"submission": submission},
    )
