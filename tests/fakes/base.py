"""The base of the fake provider servers that the end-to-end tests talk to.

A fake serves, through ``httpx.MockTransport``, what its provider's real API serves during a
connection's life, in the provider's real shapes (``shared/docs/providers.md``): token
exchange, refresh (with rotation, rejecting a spent refresh token with the provider's real
error), identity / profile / permissions, revocation, and registration where the provider
demands it. It also builds the redirect to our callback and correctly or wrongly signed
webhook requests about its athlete.

Subclasses set ``name`` and implement the abstract methods. They may use the helpers here
(:meth:`new_secret`, :meth:`record_secret`), and every value they hand out that must never be
logged (tokens, codes) is collected in :attr:`issued_secrets` — also automatically, from the
JSON bodies that :meth:`transport` serves — for the no-leak tests.
"""

from __future__ import annotations

import json
import secrets
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import httpx

from trainlytics.providers.base import ProviderCredentials

__all__ = ["SECRET_KEYS", "FakeProvider", "WebhookParts"]

#: headers, raw body, query string of a webhook request
WebhookParts = tuple[dict[str, str], bytes, dict[str, str]]

#: Keys of JSON bodies (at any depth) whose values are secrets.
SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "code", "client_secret", "code_verifier"}
)


class FakeProvider(ABC):
    """A provider's API as a MockTransport handler, plus the requests it sends to us."""

    #: The provider_type value (the key in trainlytics.providers.PROVIDER_CLASSES).
    name: ClassVar[str]

    def __init__(self, provider_user_id: str | None = None) -> None:
        self.provider_user_id: str = provider_user_id or str(secrets.randbelow(10**9) + 10**8)
        self.credentials: ProviderCredentials = self.make_credentials()
        self.token_exchanges = 0
        self.refresh_calls = 0
        self.revocations = 0
        #: Every request the fake received (for assertions on what our code sent).
        self.requests: list[httpx.Request] = []
        #: Every secret handed out or configured; none may appear in a log line or response.
        self.issued_secrets: set[str] = set()
        self.record_secret(self.credentials.client_secret)
        if self.credentials.webhook_secret:
            self.record_secret(self.credentials.webhook_secret)

    # --- to implement ----------------------------------------------------------------------

    def make_credentials(self) -> ProviderCredentials:
        """Test credentials; override to add webhook secret / extra settings."""
        return ProviderCredentials(
            client_id=f"{self.name}-client-id",
            client_secret=f"{self.name}-client-secret-{secrets.token_hex(8)}",
            redirect_uri=f"https://api.trainlytics.test/oauth/{self.name}/callback",
            webhook_secret=f"{self.name}-webhook-secret-{secrets.token_hex(8)}",
        )

    @abstractmethod
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request to the provider's API."""

    @abstractmethod
    def callback_query(self, state: str) -> dict[str, str]:
        """The query of the provider's redirect to our callback after consent."""

    @abstractmethod
    def signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        """A correctly signed webhook request about an activity of this fake's athlete."""

    @abstractmethod
    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        """The same request, wrongly signed (or unsigned where a signature is required)."""

    # --- helpers -----------------------------------------------------------------------------

    def new_secret(self, prefix: str) -> str:
        """A fresh random token-like value, recorded as a secret."""
        value = f"{prefix}-{secrets.token_urlsafe(24)}"
        self.record_secret(value)
        return value

    def record_secret(self, value: str | None) -> None:
        if value:
            self.issued_secrets.add(value)

    def _handle_and_record(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.handle(request)
        try:
            body = json.loads(response.content) if response.content else None
        except (ValueError, UnicodeDecodeError):
            body = None
        self._collect_secrets(body)
        return response

    def _collect_secrets(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_KEYS and isinstance(item, str):
                    self.record_secret(item)
                else:
                    self._collect_secrets(item)
        elif isinstance(value, list):
            for item in value:
                self._collect_secrets(item)

    def transport(self) -> httpx.MockTransport:
        """A MockTransport serving this fake (and recording what it hands out)."""
        return httpx.MockTransport(self._handle_and_record)

    def callback(self, state: str) -> dict[str, str]:
        """:meth:`callback_query`, with its code recorded as a secret."""
        query = self.callback_query(state)
        self.record_secret(query.get("code"))
        return query
