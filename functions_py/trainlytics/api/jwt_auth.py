"""Verify Supabase access tokens locally and return the caller's user id.

API
---
- ``JwtVerifier(*, audience="authenticated", hs256_secret=None, jwks_url=None, http=None,
  jwks_cache_seconds=600, leeway_seconds=0)``
    - ``.verify(token: str) -> uuid.UUID`` — the ``sub`` claim of a valid access token.
    - ``.user_id_from_header(authorization: str | None) -> uuid.UUID`` — same, from an
      ``Authorization: Bearer <token>`` header value.
    - ``JwtVerifier.from_settings(settings, http) -> JwtVerifier``
- Every failure raises ``AuthenticationError`` with a short reason (never the token).

Checks: the signature (HS256 with ``SUPABASE_JWT_SECRET``; RS256/ES256 with the project's
JWKS, fetched through the injected ``httpx.Client`` and cached by ``kid`` — an unknown ``kid``
refetches at most once per 30 s), ``exp`` (required), ``aud`` (``SUPABASE_JWT_AUDIENCE``),
``role == "authenticated"`` (anon and service keys are not users) and ``sub`` being a UUID.
No other algorithm is accepted (``none`` and HS/RS confusion are ruled out by choosing the key
from the algorithm and pinning the algorithm list per key type).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import jwt

from trainlytics.errors import AuthenticationError

if TYPE_CHECKING:
    from trainlytics.config import Settings

__all__ = ["JwtVerifier"]

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
JWKS_REFETCH_INTERVAL = 30.0


class JwtVerifier:
    def __init__(
        self,
        *,
        audience: str = "authenticated",
        hs256_secret: str | None = None,
        jwks_url: str | None = None,
        http: httpx.Client | None = None,
        jwks_cache_seconds: float = 600.0,
        leeway_seconds: float = 0.0,
    ) -> None:
        if hs256_secret is None and jwks_url is None:
            raise ValueError("JwtVerifier needs hs256_secret or jwks_url")
        if jwks_url is not None and http is None:
            raise ValueError("JwtVerifier needs an httpx.Client to fetch the JWKS")
        self.audience = audience
        self._secret = hs256_secret
        self._jwks_url = jwks_url
        self._http = http
        self._cache_seconds = jwks_cache_seconds
        self._leeway = leeway_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JwtVerifier(audience={self.audience!r}, jwks_url={self._jwks_url!r})"

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client) -> JwtVerifier:
        return cls(
            audience=settings.jwt_audience,
            hs256_secret=settings.jwt_secret,
            jwks_url=settings.jwks_url,
            http=http,
        )

    def user_id_from_header(self, authorization: str | None) -> uuid.UUID:
        if not authorization:
            raise AuthenticationError("missing Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Authorization header is not 'Bearer <access token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> uuid.UUID:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("access token is malformed") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256":
            if self._secret is None:
                raise AuthenticationError("HS256 access tokens are not accepted here")
            key = self._secret
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            if self._jwks_url is None:
                raise AuthenticationError(f"{algorithm} access tokens are not accepted here")
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise AuthenticationError("access token has no key id (kid)")
            jwk = self._jwk(kid)
            if jwk.algorithm_name != algorithm:
                raise AuthenticationError("access token algorithm does not match its key")
            key = jwk.key
        else:
            raise AuthenticationError("access token algorithm is not accepted")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("access token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("access token is for another audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"access token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("access token signature is invalid") from None
        except jwt.PyJWTError:
            raise AuthenticationError("access token is invalid") from None
        if claims.get("role") != "authenticated":
            raise AuthenticationError("access token is not a signed-in user's")
        try:
            return uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise AuthenticationError("access token subject is not a user id") from None

    # --- JWKS ------------------------------------------------------------------------------------

    def _jwk(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > self._cache_seconds
            may_refetch = self._fetched_at is None or now - self._fetched_at > JWKS_REFETCH_INTERVAL
            if stale or (kid not in self._keys and may_refetch):
                self._fetch(now)
            jwk = self._keys.get(kid)
        if jwk is None:
            raise AuthenticationError("access token is signed with an unknown key")
        return jwk

    def _fetch(self, now: float) -> None:
        assert self._http is not None  # noqa: S101 - checked in __init__
        assert self._jwks_url is not None  # noqa: S101
        try:
            response = self._http.get(self._jwks_url, timeout=10.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            if self._keys:  # keep serving the keys we have
                return
            raise AuthenticationError(
                "cannot fetch the signing keys (JWKS) to verify access tokens"
            ) from None
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                keys[kid] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type we do not support
        self._keys = keys
        self._fetched_at = now
