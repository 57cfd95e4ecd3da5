"""An OpenID Connect issuer in a thread of the test process, for the contract suite.

It serves a discovery document and a key set that a test can rotate, break, slow down or stop,
counts the key-set fetches, and signs tokens with its keys, hostile ones included. What a real
provider does (login, PKCE, its own token format, restarts with new keys) is tested against
panva's oidc-provider in tests/system/test_signed_in.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.servers import free_port

AUDIENCE = "https://chats.test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        data: dict[str, Any] = json.loads(algorithm.to_jwk(public))
        return {**data, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def new_key(kid: str, algorithm: str = "RS256") -> SigningKey:
    if algorithm.startswith(("RS", "PS")):
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid, algorithm, private)


@dataclass
class StandInIssuer:
    """`mode`: `ok`, `garbage` (not JSON), `huge` (a JSON key set of 2 MiB), `error` (500),
    `slow` (answers after `delay` seconds)."""

    keys: list[SigningKey]
    port: int = field(default_factory=free_port)
    mode: str = "ok"
    delay: float = 0.0
    fetches: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"oidc_issuer": self.url, "oidc_audience": AUDIENCE, **overrides}

    def key_set(self) -> bytes:
        if self.mode == "garbage":
            return b"<html>not a key set</html>"
        keys = [key.jwk for key in self.keys]
        if self.mode == "huge":
            filler = {"kty": "oct", "k": "A" * 1024}
            return json.dumps({"keys": keys + [filler] * 2048}).encode()
        return json.dumps({"keys": keys}).encode()

    def start(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"})
                    self._answer(200, body.encode())
                elif self.path == "/jwks":
                    issuer.fetches += 1
                    if issuer.mode == "slow":
                        time.sleep(issuer.delay)
                    if issuer.mode == "error":
                        self._answer(500, b"{}")
                    else:
                        self._answer(200, issuer.key_set())
                else:
                    self._answer(404, b"{}")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the service gave up waiting (a slow issuer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        # Polled often: `stop` waits for the loop's next turn (half a second by default, at the
        # end of every test that uses the issuer).
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        """Down: connections to it are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def token(
        self,
        subject: str | None = "user-1",
        *,
        key: SigningKey | None = None,
        algorithm: str | None = None,
        headers: dict[str, Any] | None = None,
        lifetime: float = 300,
        **claims: Any,
    ) -> str:
        """A token as the issuer would sign it; every part can be overridden (None drops a
        claim)."""
        key = key or self.keys[0]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + int(lifetime),
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            key.private,
            algorithm=algorithm or key.algorithm,
            headers={"kid": key.kid, **(headers or {})},
        )


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unsigned(issuer: StandInIssuer, subject: str = "user-1") -> str:
    """`alg: none`, as RFC 7519 writes it: an empty signature."""
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 300}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def hmac_with_public_key(issuer: StandInIssuer) -> str:
    """RFC 8725 2.1's confusion: HS256 keyed with the issuer's public key, which anyone has."""
    key = issuer.keys[0]
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    signature = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64(signature)}"


def resigned_claims(issuer: StandInIssuer) -> str:
    """A real signature over other claims: the claims of one token with another's signature."""
    victim = issuer.token("user-1").split(".")
    forged_claims = issuer.token("admin").split(".")[1]
    return f"{victim[0]}.{forged_claims}.{victim[2]}"
