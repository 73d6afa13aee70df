"""A real SMTP server (aiosmtpd) on a free loopback port; Django's SMTP backend sends to it."""

import socket

import pytest


class Inbox:
    def __init__(self):
        self.messages = []
        self.fail_next = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next:
            self.fail_next -= 1
            return "451 Requested action aborted: try again later"
        from email import message_from_bytes

        message = message_from_bytes(envelope.content)
        self.messages.append({"to": sorted(envelope.rcpt_tos), "subject": message["Subject"], "message": message})
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    """An SMTP server (aiosmtpd) on a free loopback port; Django's SMTP backend sends to it."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    yield inbox
    controller.stop()
