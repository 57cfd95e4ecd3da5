"""What the token tests share: the answers a refused token gets (the app that accepts the
stand-in issuer's tokens is conftest.py's `signed_in`)."""

from __future__ import annotations

UNAUTHORIZED = (401, "Unauthorized")
INVALID_TOKEN = 'Bearer error="invalid_token"'
NOT_LINKED = (403, "No account is linked to this identity")
BLOCKED = (403, "This identity is blocked")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
