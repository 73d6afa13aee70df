"""Fixtures for kyc: operator accounts, staff in each group, real image and PDF files, a submission."""

import struct
import zlib
from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from accounts.services import account_roles_update
from kyc import services

PASSWORD = "correct horse battery staple"


def png_bytes(width=240, height=150, rgb=(70, 110, 200)) -> bytes:
    """A real PNG (a solid card with a darker band), so browsers render it in the review page."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = []
    for y in range(height):
        color = bytes(c // 2 for c in rgb) if 20 <= y < 45 else bytes(rgb)
        rows.append(b"\x00" + color * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def upload(name="passport-of-alice-smith.png", content=None, content_type="image/png"):
    return SimpleUploadedFile(name, png_bytes() if content is None else content, content_type=content_type)


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT = tmp_path / "public-media"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture
def operator(alice_account):
    """Alice's team runs nodes (and buys)."""
    return account_roles_update(account=alice_account, is_buyer=True, is_operator=True)


@pytest.fixture
def charlie_operator(charlie_account):
    return account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)


DETAILS = {
    "legal_name": "Alice Smith",
    "date_of_birth": date(1990, 4, 2),
    "country": "DE",
    "address": "Hauptstraße 1, 10115 Berlin",
}


@pytest.fixture
def submission(operator, alice):
    return services.kyc_submission_update(
        account=operator, user=alice, **DETAILS, identity_document=upload(), submit=True
    )


def _staff(email, *groups, superuser=False):
    user = User.objects.create_user(email=email, password=PASSWORD, is_staff=True, is_superuser=superuser)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def support(db):
    return _staff("sam.support@infer.local", "support")


@pytest.fixture
def finance(db):
    return _staff("fiona.finance@infer.local", "finance")


@pytest.fixture
def finance_and_support(db):
    return _staff("both@infer.local", "finance", "support")


@pytest.fixture
def superuser(db):
    return _staff("root@infer.local", superuser=True)


@pytest.fixture
def staff_without_group(db):
    return _staff("intern@infer.local")
