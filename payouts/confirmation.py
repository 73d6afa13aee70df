"""A fresh MFA confirmation for money leaving: a TOTP code checked against the user's allauth authenticator."""

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP

from infer.errors import ApplicationError


def totp_enabled(*, user) -> bool:
    return user is not None and Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def totp_confirm(*, user, code: str) -> None:
    """Accept a current TOTP code once (allauth remembers used codes), or raise a clear refusal."""
    authenticator = (
        Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first() if user is not None else None
    )
    if authenticator is None:
        raise ApplicationError(
            "Set up an authenticator app (two-factor authentication) before requesting a payout",
            code="mfa_required",
            status_code=403,
        )
    code = (code or "").strip().replace(" ", "")
    if not code:
        raise ApplicationError("Enter the 6-digit code from your authenticator app", code="mfa_code_required")
    if not TOTP(authenticator).validate_code(code):
        raise ApplicationError(
            "That authenticator code is wrong or was already used: enter the current code", code="mfa_code_invalid"
        )
    authenticator.record_usage()
