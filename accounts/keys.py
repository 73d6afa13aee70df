"""API key format: `infer_sk_<public id>_<secret>`; generating, parsing and hashing keys."""

import hashlib
import hmac
import secrets
import string

PREFIX = "infer_sk_"
_ALPHABET = string.ascii_letters + string.digits
PUBLIC_ID_LENGTH = 12  # ~71 bits: a lookup handle, not a secret
SECRET_LENGTH = 32  # ~190 bits of secret


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate() -> tuple[str, str, str]:
    """Return (full key shown once, public id, SHA-256 hex of the secret)."""
    public_id, secret = _random(PUBLIC_ID_LENGTH), _random(SECRET_LENGTH)
    return f"{PREFIX}{public_id}_{secret}", public_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(raw: str) -> tuple[str, str] | None:
    """Split a presented key into (public id, secret); None when it is not shaped like one of ours."""
    if not raw.startswith(PREFIX):
        return None
    parts = raw[len(PREFIX) :].split("_")
    if len(parts) != 2:
        return None
    public_id, secret = parts
    if len(public_id) != PUBLIC_ID_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not (public_id.isascii() and public_id.isalnum() and secret.isascii() and secret.isalnum()):
        return None
    return public_id, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
