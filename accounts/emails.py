"""One function per email that accounts sends."""

from infer.mail import send_templated


def send_invitation(invitation) -> None:
    send_templated(to=[invitation.email], template="invitation", context={"invitation": invitation})
