"""One OAuth 2.0 client (RFC 6749) for every provider: authorize URL, code exchange, refresh,
revocation, the one token-response parser, and the bearer API calls that go with them.

A provider module subclasses :class:`OAuth2Provider`, sets its endpoints and settings as class
attributes, and overrides a hook only for a real quirk of its provider (COROS's error
envelopes inside HTTP 200, Polar's tokens that cannot be refreshed, Strava's athlete in the
token response, ...). What is shared and why:

- **Client authentication** (RFC 6749 §2.3.1): ``client_secret_post`` (id and secret in the
  form) or ``client_secret_basic`` (HTTP Basic), :attr:`OAuth2Provider.client_auth`.
- **Errors** (§5.2): a 400/401 answer to a refresh means the grant is gone
  (``invalid_grant`` and friends: :class:`TokenRevokedError`, the athlete reconnects) unless
  the provider blames *our* client (``invalid_client``: a configuration problem, no
  connection is revoked). Only the error *code* is ever quoted, never the body (it may echo
  what we sent).
- **Token response** (§5.1): ``access_token`` (required), ``refresh_token`` (a new one
  replaces the stored one — rotation — else the stored one is kept), ``expires_in`` counted
  from our clock or an absolute ``expires_at``, ``scope`` separated by spaces, commas or
  ``+`` (absent: the scopes known before), ``refresh_token_expires_in``.
- **Time** comes from the injected clock (``Provider(..., clock=...)``), never from the system
  clock directly, so tests control it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx

from trainlytics.errors import (
    BadPayloadError,
    ProviderError,
    TokenExchangeError,
    TokenRefreshError,
    TokenRevokedError,
)
from trainlytics.providers.base import Provider, TokenSet
from trainlytics.providers.http import request, response_json

__all__ = ["ClientAuth", "OAuth2Provider", "error_code", "split_scopes"]

#: RFC 6749 error codes are lower-case words with underscores ("invalid_grant"); Google API
#: statuses upper-case ones ("PERMISSION_DENIED"). Anything else (an echoed token has digits or
#: dashes) is left out of messages.
_ERROR_CODE = re.compile(r"^(?:[a-z][a-z_]{0,39}|[A-Z][A-Z_]{0,39})$")
_SCOPE_SEPARATORS = re.compile(r"[\s,+]+")

ClientAuth = Literal["client_secret_post", "client_secret_basic"]


def split_scopes(value: Any) -> tuple[str, ...] | None:
    """Scopes from a ``scope`` value separated by spaces (RFC 6749 §3.3), commas (Strava) or
    ``+`` (a form-encoded space left as is); None when there is no such string."""
    if not isinstance(value, str) or not value.strip():
        return None
    return tuple(part for part in _SCOPE_SEPARATORS.split(value.strip()) if part)


def error_code(response: httpx.Response) -> str | None:
    """The RFC 6749 ``error`` (or Google API ``error.status``) of an error response when it is
    a plain code; None otherwise."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    code: Any = body.get("error") if isinstance(body, dict) else None
    if isinstance(code, dict):  # Google API errors: {"error": {"code", "message", "status"}}
        code = code.get("status")
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _after(now: datetime, seconds: Any) -> datetime | None:
    """``now`` plus a positive number of seconds; None for anything else."""
    number = _number(seconds)
    if number is None or number <= 0:
        return None
    try:
        return now + timedelta(seconds=number)
    except OverflowError:
        return None


def _epoch(value: Any) -> datetime | None:
    number = _number(value)
    if number is None:
        return None
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


class OAuth2Provider(Provider):
    """A provider whose athletes connect with the OAuth 2.0 authorization-code grant."""

    #: The authorize endpoint (the athlete's browser goes there).
    authorize_url: ClassVar[str]
    #: The token endpoint (code exchange, and refresh unless :attr:`refresh_url` is set).
    token_url: ClassVar[str]
    #: A separate refresh endpoint (COROS); None: :attr:`token_url`.
    refresh_url: ClassVar[str | None] = None
    #: How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
    client_auth: ClassVar[ClientAuth] = "client_secret_post"
    #: ``Accept`` header of token requests, when the provider wants one.
    oauth_accept: ClassVar[str | None] = None
    #: Scopes asked for at the authorize endpoint, joined by :attr:`scope_separator`.
    requested_scopes: ClassVar[tuple[str, ...]] = ()
    scope_separator: ClassVar[str] = " "
    #: Further authorize parameters (Google: ``access_type=offline``).
    authorize_params: ClassVar[Mapping[str, str]] = {}
    #: With :attr:`uses_pkce`: refuse to build an authorize URL without a challenge.
    pkce_required: ClassVar[bool] = False
    #: Whether the code exchange repeats ``redirect_uri`` (RFC 6749 §4.1.3; Strava omits it).
    exchange_sends_redirect_uri: ClassVar[bool] = True
    #: Whether a code exchange that returns no refresh token is malformed.
    refresh_token_required: ClassVar[bool] = False
    #: Whether an absolute ``expires_at`` (epoch s) wins over ``expires_in`` when both come.
    trusts_expires_at: ClassVar[bool] = False
    #: Lifetime assumed when the response gives none; None: the token does not expire.
    default_token_lifetime: ClassVar[timedelta | None] = None
    #: Whether the granted scopes come from the callback query when the token response has
    #: none (Strava: the athlete may untick boxes, only the redirect says what was granted).
    scopes_from_callback: ClassVar[bool] = False
    #: Raised by :meth:`refresh` when no refresh token is stored.
    missing_refresh_token_error: ClassVar[type[ProviderError]] = TokenRefreshError
    #: Whether a malformed token response is a refused exchange / failed refresh rather than
    #: a :class:`BadPayloadError`.
    malformed_token_is_grant_error: ClassVar[bool] = False
    #: Revocation: the endpoint and method; the token goes in this form field, or as the
    #: bearer token when None.
    revoke_url: ClassVar[str | None] = None
    revoke_method: ClassVar[str] = "POST"
    revoke_token_field: ClassVar[str | None] = None
    #: Statuses meaning "revoked now" and "already revoked" (both are success).
    revoke_done: ClassVar[frozenset[int]] = frozenset({200, 204})
    revoke_gone: ClassVar[frozenset[int]] = frozenset({401})

    # --- settings derived from the name ---------------------------------------------------------

    @property
    def reconnect_hint(self) -> str:
        return f"the athlete must connect {self.display_name} again"

    def _client_hint(self, *, with_redirect: bool = False) -> str:
        prefix = self.name.upper()
        names = f"{prefix}_CLIENT_ID, {prefix}_CLIENT_SECRET"
        return f"check {names} and {prefix}_REDIRECT_URI" if with_redirect else f"check {names}"

    # --- authorize -------------------------------------------------------------------------------

    def authorization_url(self, *, state: str, code_challenge: str | None) -> str:
        params = {
            "response_type": "code",
            "client_id": self.credentials.client_id,
            "redirect_uri": self.credentials.redirect_uri,
        }
        if self.requested_scopes:
            params["scope"] = self.scope_separator.join(self.requested_scopes)
        params["state"] = state
        params.update(self.authorize_params)
        if self.uses_pkce and code_challenge:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        elif self.uses_pkce and self.pkce_required:
            raise ValueError(f"{self.name} requires a PKCE S256 code challenge")
        # A provider without PKCE: a challenge, if one is passed, is not sent.
        return f"{self.authorize_url}?{urlencode(params)}"

    # --- token endpoint --------------------------------------------------------------------------

    def exchange_code(
        self, *, code: str, code_verifier: str | None, callback_query: Mapping[str, str]
    ) -> TokenSet:
        if self.uses_pkce and self.pkce_required and not code_verifier:
            raise TokenExchangeError(self.name, "the PKCE code verifier is missing")
        form = {"grant_type": "authorization_code", "code": code}
        if self.exchange_sends_redirect_uri:
            form["redirect_uri"] = self.credentials.redirect_uri
        if self.uses_pkce and code_verifier is not None:
            form["code_verifier"] = code_verifier
        response = self._token_request(self.token_url, form)
        if response.status_code != 200:
            raise TokenExchangeError(
                self.name,
                f"the authorization code was refused ({self._describe(response)})",
                status_code=response.status_code,
                hint=self._client_hint(with_redirect=True)
                if self._blames_client(response)
                else "start the connection again",
            )
        return self._read_token_response(response, previous=None, query=callback_query)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """Refresh under the connection's refresh lease (``trainlytics.connections.tokens``):
        single-use refresh tokens (Wahoo, Strava, Garmin rotate) must never be spent twice."""
        if not tokens.refresh_token:
            raise self.missing_refresh_token_error(
                self.name, "no refresh token is stored for this connection"
            )
        response = self._token_request(
            self.refresh_url or self.token_url,
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
        )
        if response.status_code in (400, 401):
            if self._blames_client(response):
                # Our client id/secret is wrong: every connection would fail the same way, and
                # none of them is revoked. Fix the configuration, then retry.
                raise TokenRefreshError(
                    self.name,
                    f"the refresh was refused because of the app's credentials "
                    f"({self._describe(response)})",
                    status_code=response.status_code,
                    hint=self._client_hint(),
                )
            raise TokenRevokedError(
                self.name,
                f"the refresh token was refused ({self._describe(response)})",
                status_code=response.status_code,
                hint=self.reconnect_hint,
            )
        if response.status_code != 200:
            raise TokenRefreshError(
                self.name,
                f"the refresh failed ({self._describe(response)})",
                status_code=response.status_code,
            )
        return self._read_token_response(response, previous=tokens, query={})

    def _token_request(self, url: str, form: Mapping[str, str]) -> httpx.Response:
        """POST ``form`` to a token endpoint with the client's authentication."""
        data = dict(form)
        auth: httpx.Auth | None = None
        if self.client_auth == "client_secret_basic":
            auth = httpx.BasicAuth(self.credentials.client_id, self.credentials.client_secret)
        else:
            data["client_id"] = self.credentials.client_id
            data["client_secret"] = self.credentials.client_secret
        headers = {"Accept": self.oauth_accept} if self.oauth_accept else None
        return self._send("POST", url, data=data, headers=headers, auth=auth)

    # --- the token-response parser ---------------------------------------------------------------

    def _read_token_response(
        self, response: httpx.Response, *, previous: TokenSet | None, query: Mapping[str, str]
    ) -> TokenSet:
        """The tokens of a 200 answer (``previous``: the refreshed set, None on exchange;
        ``query``: the callback's query on exchange)."""
        body = self._token_json(response, exchange=previous is None)
        return self._parse_tokens(body, previous=previous, query=query)

    def _token_json(self, response: httpx.Response, *, exchange: bool) -> dict[str, Any]:
        try:
            body = response_json(response, self.name)
        except BadPayloadError as exc:
            if not self.malformed_token_is_grant_error:
                raise
            raise self._malformed("the token response is not JSON", exchange=exchange) from exc
        if not isinstance(body, dict):
            raise self._malformed("the token response is not a JSON object", exchange=exchange)
        return body

    def _parse_tokens(
        self, body: Mapping[str, Any], *, previous: TokenSet | None, query: Mapping[str, str]
    ) -> TokenSet:
        exchange = previous is None
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise self._malformed("the token response has no access_token", exchange=exchange)
        token_type = body.get("token_type")
        if token_type is not None and str(token_type).lower() != "bearer":
            raise self._malformed("the token response is not a bearer token", exchange=exchange)
        new_refresh = body.get("refresh_token")
        if new_refresh is not None and not isinstance(new_refresh, str):
            raise self._malformed("the token response has no refresh_token", exchange=exchange)
        if exchange and self.refresh_token_required and not new_refresh:
            raise self._malformed("the token response has no refresh_token", exchange=exchange)
        now = self.clock()
        scopes = split_scopes(body.get("scope"))
        if scopes is None and previous is not None:
            scopes = previous.scopes
        if scopes is None and exchange and self.scopes_from_callback and "scope" in query:
            scopes = split_scopes(query["scope"]) or ()
        refresh_expires = _after(now, body.get("refresh_token_expires_in"))
        if refresh_expires is None and not new_refresh and previous is not None:
            refresh_expires = previous.refresh_token_expires_at
        tokens = TokenSet(
            access_token=access_token,
            # Rotation: a new refresh token replaces the stored one (the old one may be spent).
            refresh_token=new_refresh or (previous.refresh_token if previous else None),
            expires_at=self._expiry(body, now),
            refresh_token_expires_at=refresh_expires,
            scopes=scopes,
            provider_user_id=previous.provider_user_id if previous else None,
            extra=previous.extra if previous else {},
        )
        return self._token_quirks(tokens, body, exchange=exchange)

    def _expiry(self, body: Mapping[str, Any], now: datetime) -> datetime | None:
        # ``expires_in`` counts from our clock, not the provider's: a skewed provider clock
        # must not make a fresh token look expired (the refresh margin absorbs transit time).
        relative = _after(now, body.get("expires_in"))
        absolute = _epoch(body.get("expires_at"))
        first, second = (absolute, relative) if self.trusts_expires_at else (relative, absolute)
        expiry = first or second
        if expiry is None and self.default_token_lifetime is not None:
            expiry = now + self.default_token_lifetime
        return expiry

    def _token_quirks(
        self, tokens: TokenSet, body: Mapping[str, Any], *, exchange: bool
    ) -> TokenSet:
        """Provider-specific fields of a token response (user id, extras). Default: none."""
        return tokens

    def _malformed(self, message: str, *, exchange: bool) -> ProviderError:
        if not self.malformed_token_is_grant_error:
            return BadPayloadError(self.name, message, status_code=200)
        return (TokenExchangeError if exchange else TokenRefreshError)(self.name, message)

    # --- revocation ------------------------------------------------------------------------------

    def revoke(self, tokens: TokenSet) -> None:
        """Withdraw the app's access; a token that is already invalid is success."""
        url = self._revoke_target(tokens)
        if self.revoke_token_field:
            response = self._send(
                self.revoke_method,
                url,
                data={self.revoke_token_field: self._revocable_token(tokens)},
                headers={"Accept": "application/json"},
            )
        else:
            response = self._send(self.revoke_method, url, headers=self._bearer(tokens))
        if response.status_code in self.revoke_gone or self._already_revoked(response):
            return
        if response.status_code in self.revoke_done:
            self._check_revocation(response)
            return
        raise ProviderError(
            self.name,
            f"revocation failed ({self._describe(response)})",
            status_code=response.status_code,
        )

    def _revoke_target(self, tokens: TokenSet) -> str:
        if self.revoke_url is None:
            raise ProviderError(self.name, "the provider has no revocation endpoint")
        return self.revoke_url

    def _revocable_token(self, tokens: TokenSet) -> str:
        return tokens.access_token

    def _already_revoked(self, response: httpx.Response) -> bool:
        return False

    def _check_revocation(self, response: httpx.Response) -> None:
        """Inspect a successful revocation answer (COROS: its envelope). Default: nothing."""

    # --- errors ----------------------------------------------------------------------------------

    def _error_detail(self, response: httpx.Response) -> str | None:
        """The provider's error code(s) of an error response, safe to print."""
        return error_code(response)

    def _describe(self, response: httpx.Response) -> str:
        """HTTP status plus the error code — never the raw body, which may echo what we sent."""
        detail = self._error_detail(response)
        status = f"HTTP {response.status_code}"
        return f"{status}, {detail}" if detail else status

    def _blames_client(self, response: httpx.Response) -> bool:
        """Whether a refusal is about our client credentials, not the athlete's grant."""
        return error_code(response) == "invalid_client"

    # --- API calls with the athlete's token ------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Every request to the provider (transport failures, 429 and 5xx become exceptions)."""
        return request(self.http, self.name, method, url, clock=self.clock, **kwargs)

    @staticmethod
    def _bearer(tokens: TokenSet) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"}

    def _api_call(
        self,
        method: str,
        url: str,
        tokens: TokenSet,
        what: str,
        *,
        accepted: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        """A request with the athlete's bearer token: 401 is a revoked token, a status outside
        ``accepted`` a :class:`ProviderError`."""
        response = self._send(method, url, headers=self._bearer(tokens), **kwargs)
        self._check_api_status(response, what, accepted=accepted)
        return response

    def _check_api_status(
        self, response: httpx.Response, what: str, *, accepted: tuple[int, ...] = (200,)
    ) -> None:
        if response.status_code in accepted:
            return
        if response.status_code == 401:
            raise TokenRevokedError(
                self.name,
                f"{what}: the access token was refused ({self._describe(response)})",
                status_code=401,
                hint=self.reconnect_hint,
            )
        raise ProviderError(
            self.name,
            f"{what} failed ({self._describe(response)})",
            status_code=response.status_code,
        )

    def _api_json(
        self, url: str, tokens: TokenSet, what: str, *, params: Mapping[str, Any] | None = None
    ) -> Any:
        """GET ``url`` with the athlete's token and return its JSON body."""
        response = self._api_call("GET", url, tokens, what, params=params)
        return response_json(response, self.name)
