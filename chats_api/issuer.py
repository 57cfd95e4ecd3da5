"""The OpenID Connect issuer's key set, fetched over HTTP for `resolvers.tokens`.

PyJWT's `PyJWKClient` fetches synchronously, which would block the event loop: the service
fetches with its own async client, within a timeout, and reads at most MAX_DOCUMENT_BYTES.
"""

from __future__ import annotations

import httpx
import orjson

from resolvers.tokens import IssuerUnreachable, KeySet, KeySetInvalid

# Real key sets are a few KiB; a bigger answer is refused unread past this.
MAX_DOCUMENT_BYTES = 256 * 1024
FETCH_TIMEOUT = 3.0


class IssuerClient:
    """Discovery (`/.well-known/openid-configuration` names the `jwks_uri`, looked up once per
    process) unless `jwks_url` is given, then the key set."""

    def __init__(self, issuer: str, jwks_url: str = "", timeout: float = FETCH_TIMEOUT) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"accept": "application/json"}
        )

    async def fetch_keys(self) -> KeySet:
        if not self._jwks_url:
            self._jwks_url = await self._discover()
        body, headers = await self._get(self._jwks_url)
        return KeySet(body, _max_age(headers.get("cache-control", "")))

    async def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = orjson.loads((await self._get(url))[0])
        except orjson.JSONDecodeError:
            raise KeySetInvalid("the discovery document is not JSON") from None
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was asked of.
            raise KeySetInvalid("the discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise KeySetInvalid("the discovery document has no jwks_uri")
        return jwks_uri

    async def _get(self, url: str) -> tuple[bytes, httpx.Headers]:
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code >= 500:
                    raise IssuerUnreachable(f"{url} answered {response.status_code}")
                if response.status_code != 200:
                    raise KeySetInvalid(f"{url} answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise KeySetInvalid(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
                return bytes(body), response.headers
        except httpx.HTTPError as exc:
            raise IssuerUnreachable(f"{url}: {type(exc).__name__}") from None

    async def close(self) -> None:
        await self._client.aclose()


def _max_age(cache_control: str) -> float | None:
    """`max-age` of a Cache-Control header, in seconds (None: none given, or not a number)."""
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value.strip())
    return None
