# ruff: noqa: S106 - test tokens and secrets are fake values
"""Support for the token refresh tests: a single-use refresh endpoint on 127.0.0.1, a minimal
provider that refreshes against it, and the worker each OS process runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import psycopg

from trainlytics.connections.crypto import TokenCipher
from trainlytics.connections.tokens import TokenService
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.errors import TokenRefreshError, TokenRevokedError
from trainlytics.providers.base import (
    Provider,
    ProviderCredentials,
    ProviderIdentity,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.http import request, response_json


class SingleUseTokenServer:
    """An OAuth token endpoint whose refresh tokens work once (like Wahoo's): each refresh
    returns a new pair and spends the old refresh token; a spent or unknown one is answered
    400 ``invalid_grant``. ``revoked=True`` refuses every refresh. Responses are delayed by
    ``delay`` seconds so concurrent callers really overlap."""

    def __init__(self, live_refresh_token: str, *, delay: float = 0.5, revoked: bool = False):
        self.live = live_refresh_token
        self.delay = delay
        self.revoked = revoked
        self.refresh_calls = 0
        self.generation = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                status, body = server.answer(form)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oauth/token"

    def answer(self, form: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.refresh_calls += 1
        time.sleep(self.delay)
        with self.lock:
            presented = form.get("refresh_token", [""])[0]
            if self.revoked or presented != self.live:
                return 400, {"error": "invalid_grant", "error_description": "refresh token spent"}
            self.generation += 1
            self.live = f"refresh-{self.generation}"
            return 200, {
                "access_token": f"access-{self.generation}",
                "refresh_token": self.live,
                "expires_in": 7200,
                "token_type": "bearer",
            }

    @contextmanager
    def running(self) -> Iterator[SingleUseTokenServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join()


class SingleUseRefreshProvider(Provider):
    """Just enough of a provider to refresh against :class:`SingleUseTokenServer`."""

    name: ClassVar[str] = "wahoo"
    uses_pkce: ClassVar[bool] = False
    required_scopes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, token_url: str, http: httpx.Client) -> None:
        super().__init__(
            ProviderCredentials(client_id="id", client_secret="secret", redirect_uri="https://x"),
            http,
        )
        self.token_url = token_url

    def refresh(self, tokens: TokenSet) -> TokenSet:
        response = request(
            self.http,
            self.name,
            "POST",
            self.token_url,
            data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""},
        )
        body = response_json(response, self.name)
        if response.status_code in (400, 401):
            raise TokenRevokedError(
                self.name, f"refresh token refused ({body.get('error', 'unknown')})"
            )
        if response.status_code != 200:
            raise TokenRefreshError(self.name, f"refresh answered {response.status_code}")
        return TokenSet(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            expires_at=datetime.now(UTC) + timedelta(seconds=body["expires_in"]),
        )

    def authorization_url(self, *, state: str, code_challenge: str | None) -> str:
        raise NotImplementedError

    def exchange_code(
        self, *, code: str, code_verifier: str | None, callback_query: Mapping[str, str]
    ) -> TokenSet:
        raise NotImplementedError

    def revoke(self, tokens: TokenSet) -> None:
        raise NotImplementedError

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> ProviderIdentity:
        raise NotImplementedError

    def verify_webhook(self, request: WebhookRequest) -> None:
        raise NotImplementedError

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        raise NotImplementedError


def refresh_worker(
    database_url: str,
    key: bytes,
    token_url: str,
    connection_id: int,
    start: Any,  # multiprocessing.Barrier
    results: Any,  # multiprocessing.Queue
) -> None:
    """One OS process: its own DB connection and HTTP client; asks for valid tokens at the same
    moment as its sibling; reports ("ok", access, refresh, began, ended) or ("revoked",
    message, began, ended) — the times show the two calls overlapped."""
    try:
        with psycopg.connect(database_url, autocommit=True) as conn, httpx.Client() as http:
            service = TokenService(
                ConnectionStore(PsycopgGateway(conn, role="service_role")),
                TokenCipher({"k1": key}, "k1"),
                {"wahoo": SingleUseRefreshProvider(token_url, http)},
                margin_seconds=300,
                poll_interval=0.02,
                wait_timeout=20,
            )
            start.wait(timeout=30)
            began = time.time()
            try:
                tokens = service.valid_tokens(connection_id)
            except TokenRevokedError as exc:
                results.put(("revoked", exc.message, began, time.time()))
                return
            results.put(("ok", tokens.access_token, tokens.refresh_token, began, time.time()))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("crash", f"{type(exc).__name__}: {exc}"))
