"""Private file storage for KYC documents: under PRIVATE_MEDIA_ROOT, owner-only, never given a public URL."""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class NoPublicURL(Exception):
    """Asked for a public URL of a private file."""


class PrivateStorage(FileSystemStorage):
    """Reads PRIVATE_MEDIA_ROOT on every use (so tests and deployments can point it elsewhere)."""

    def __init__(self):
        super().__init__(file_permissions_mode=0o600, directory_permissions_mode=0o700)

    @property
    def base_location(self):
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        # There is no public URL: documents are served only by kyc.views.document_view.
        raise NoPublicURL("KYC documents have no public URL; staff open them through the audited view")

    def deconstruct(self):
        return ("kyc.storage.PrivateStorage", (), {})


private_storage = PrivateStorage()
