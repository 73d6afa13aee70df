"""DRF authentication by API key: `Authorization: Bearer infer_sk_...`, one database query."""

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from . import keys
from .models import APIKey


@dataclass(frozen=True)
class KeyPrincipal:
    """Who a key-authenticated request acts as: the key's Account, never a person."""

    api_key: APIKey

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    @property
    def account(self):
        return self.api_key.account

    @property
    def pk(self):
        return None


def api_key_from_header(header: str | None) -> APIKey:
    """Resolve an Authorization header to an active key; raise AuthenticationFailed otherwise.

    One query (key joined with its Account) and no cache, so revocation takes effect at once.
    """
    if not header:
        raise exceptions.NotAuthenticated("Missing API key: send `Authorization: Bearer infer_sk_...`.")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise exceptions.AuthenticationFailed("Malformed Authorization header: expected `Bearer <API key>`.")
    parsed = keys.parse(raw.strip())
    if parsed is None:
        raise exceptions.AuthenticationFailed("Malformed API key.")
    public_id, secret = parsed
    key = APIKey.objects.select_related("account").filter(public_id=public_id).first()
    if key is None or not keys.secret_matches(secret, key.secret_hash):
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if key.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This API key has been revoked.")
    if not key.account.is_active:
        raise exceptions.PermissionDenied("This account is suspended.")
    return key


class APIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None  # let session authentication try
        key = api_key_from_header(header)
        # Recording use is a separate, throttled write (at most once a minute per key), not part of
        # the one-query lookup. (Imported here: services imports billing, which DRF's settings load
        # this module ahead of.)
        from .services import api_key_touch

        api_key_touch(api_key=key)
        return KeyPrincipal(key), key

    def authenticate_header(self, request):
        return self.keyword
