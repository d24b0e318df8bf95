# ruff: noqa: S105 - test tokens and secrets are fake values
"""Supabase access tokens verified locally: HS256 with the project secret, RS256/ES256 with the
JWKS served through MockTransport."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trainlytics.api.jwt_auth import JwtVerifier
from trainlytics.errors import AuthenticationError

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
JWKS_URL = "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
USER = uuid.UUID("11111111-2222-4333-8444-555555555555")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": str(USER),
        "aud": "authenticated",
        "role": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "iss": "https://abc.supabase.co/auth/v1",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


class Jwks:
    """An auth server's JWKS endpoint with an RSA and an EC key; counts fetches."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0
        self.keys = [
            self._jwk(self.rsa.public_key(), "rsa-1"),
            self._jwk(self.ec.public_key(), "ec-1"),
        ]

    @staticmethod
    def _jwk(public_key: Any, kid: str) -> dict[str, Any]:
        jwk = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(public_key)
            if isinstance(public_key, rsa.RSAPublicKey)
            else jwt.algorithms.ECAlgorithm.to_jwk(public_key)
        )
        jwk.update({"kid": kid, "use": "sig"})
        return dict(jwk)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        return httpx.Response(200, json={"keys": self.keys})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def rs256(self, kid: str = "rsa-1", **overrides: Any) -> str:
        return jwt.encode(claims(**overrides), self.rsa, algorithm="RS256", headers={"kid": kid})

    def es256(self, kid: str = "ec-1", **overrides: Any) -> str:
        return jwt.encode(claims(**overrides), self.ec, algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Jwks:
    return Jwks()


@pytest.fixture
def verifier(jwks: Jwks) -> JwtVerifier:
    return JwtVerifier(hs256_secret=SECRET, jwks_url=JWKS_URL, http=jwks.client())


def test_hs256_token_gives_the_user_id(verifier: JwtVerifier) -> None:
    assert verifier.verify(hs256()) == USER
    assert verifier.user_id_from_header(f"Bearer {hs256()}") == USER


def test_rs256_and_es256_tokens_are_verified_with_the_jwks_fetched_once(
    verifier: JwtVerifier, jwks: Jwks
) -> None:
    assert verifier.verify(jwks.rs256()) == USER
    assert verifier.verify(jwks.es256()) == USER
    assert verifier.verify(jwks.rs256()) == USER
    assert jwks.fetches == 1


def test_a_new_key_id_triggers_a_refetch_but_not_a_storm(verifier: JwtVerifier, jwks: Jwks) -> None:
    verifier.verify(jwks.rs256())
    for _ in range(3):
        with pytest.raises(AuthenticationError, match="unknown key"):
            verifier.verify(jwks.rs256(kid="rotated-in"))
    assert jwks.fetches == 1  # within the refetch interval: no hammering of the auth server


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda j: hs256(exp=int(time.time()) - 10), "expired"),
        (lambda j: j.rs256(exp=int(time.time()) - 10), "expired"),
        (lambda j: hs256(aud="someone-else"), "another audience"),
        (lambda j: j.es256(aud="someone-else"), "another audience"),
        (lambda j: hs256(role="anon"), "not a signed-in user"),
        (lambda j: hs256(role="service_role"), "not a signed-in user"),
        (lambda j: j.rs256(role="anon"), "not a signed-in user"),
        (lambda j: hs256(sub=None), "no sub claim"),
        (lambda j: hs256(exp=None), "no exp claim"),
        (lambda j: hs256(sub="not-a-uuid"), "not a user id"),
        (
            lambda j: jwt.encode(
                claims(), "another-secret-of-sufficient-length-1234", algorithm="HS256"
            ),
            "signature is invalid",
        ),
        (lambda j: j.rs256()[:-4] + "AAAA", "signature is invalid"),
        (lambda j: j.rs256(kid="ec-1"), "does not match its key"),
        (lambda j: jwt.encode(claims(), "", algorithm="none"), "algorithm is not accepted"),
        (
            lambda j: jwt.encode(claims(), SECRET * 2, algorithm="HS512"),
            "algorithm is not accepted",
        ),
        (lambda j: "not.a.jwt", "malformed"),
        (lambda j: jwt.encode(claims(), j.rsa, algorithm="RS256"), "no key id"),
    ],
)
def test_bad_tokens_are_refused(
    verifier: JwtVerifier, jwks: Jwks, make_token: Any, reason: str
) -> None:
    token = make_token(jwks)
    with pytest.raises(AuthenticationError, match=reason) as caught:
        verifier.verify(token)
    assert token not in caught.value.message


def test_hs256_is_refused_when_only_jwks_is_configured(jwks: Jwks) -> None:
    jwks_only = JwtVerifier(jwks_url=JWKS_URL, http=jwks.client())
    # An attacker signing HS256 with the public key as the "secret" (algorithm confusion).
    with pytest.raises(AuthenticationError, match="HS256 access tokens are not accepted"):
        jwks_only.verify(hs256())


def test_asymmetric_tokens_are_refused_without_jwks(jwks: Jwks) -> None:
    secret_only = JwtVerifier(hs256_secret=SECRET)
    with pytest.raises(AuthenticationError, match="RS256 access tokens are not accepted"):
        secret_only.verify(jwks.rs256())


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Token x"])
def test_bad_authorization_headers_are_refused(verifier: JwtVerifier, header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        verifier.user_id_from_header(header)


def test_an_unreachable_jwks_is_an_authentication_error() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    verifier = JwtVerifier(
        jwks_url=JWKS_URL, http=httpx.Client(transport=httpx.MockTransport(down))
    )
    token = Jwks().rs256()
    with pytest.raises(AuthenticationError, match="cannot fetch the signing keys"):
        verifier.verify(token)
