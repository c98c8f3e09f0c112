"""Token checks for the API (bearer) and the relay (bearer, or basic auth whose password is the secret).

LibreNMS's API transport can send either: a configured ``Authorization=Bearer ...`` header, or its
``api-auth-username``/``api-auth-password`` fields as basic auth. Comparisons run in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr


def _same(given: str, secret: SecretStr) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), secret.get_secret_value().encode("utf-8"))


def bearer_ok(authorization: str | None, secret: SecretStr | None) -> bool:
    """``Authorization: Bearer <secret>``; no secret configured = nobody gets in."""
    if secret is None or not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and _same(value.strip(), secret)


def basic_password_ok(authorization: str | None, secret: SecretStr | None) -> bool:
    """``Authorization: Basic base64(user:<secret>)``, any user name."""
    if secret is None or not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, sep, password = decoded.partition(":")
    return bool(sep) and _same(password, secret)


def relay_auth_ok(authorization: str | None, secret: SecretStr | None) -> bool:
    return bearer_ok(authorization, secret) or basic_password_ok(authorization, secret)
