"""The HTTP app (FastAPI): a thin layer over :mod:`trainlytics.connections.connect` and
:mod:`trainlytics.sync.webhooks`.

Routes (OpenAPI at ``/openapi.json``, docs at ``/docs``):

- ``POST /connections/{provider}/start`` (``Authorization: Bearer <Supabase access token>``)
  → ``{"provider", "authorize_url", "expires_at"}``; the frontend sends the athlete there.
- ``GET /oauth/{provider}/callback`` → 302 to
  ``${TRAINLYTICS_FRONTEND_URL}/connections/complete?provider=<p>&<the provider's query>``;
  completes nothing (see :mod:`trainlytics.connections.connect`).
- ``POST /connections/{provider}/complete`` (Bearer; JSON body: the provider's redirect query
  as an object of strings) → ``{"provider", "status": "connected"|"error", "reason"}``; the
  state must have been issued to the caller.
- ``POST /connections/{provider}/disconnect`` (Bearer) → ``{"provider", "disconnected", ...}``.
- ``GET`` / ``POST /webhooks/{provider}`` → the provider's handshake answer or ack; 413 for a
  body over the provider's cap (refused before it is read whole), 400 for a malformed or too
  deeply nested body, 401 for a failed verification, 429 after too many failed ones.
- ``GET /health``.

Errors are JSON ``{"error": <code>, "detail": <message>, "hint": <what to do>}``: 401 for a
missing or invalid access token, 404 for a name that is no provider, 503 for a provider this
deployment has not configured (``provider_not_configured``, naming the variables to set) or an
unreachable database, 502 for a provider failure; 400 for other expected failures, whose
detail is a fixed sentence per error class unless the message is ours (a database error's text
never reaches a response); 500 only for a bug. Nothing here logs or
returns a token, secret, code or verifier: the request log line has the path without its
query string (callbacks carry the authorization code there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import Body, Depends, FastAPI, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from trainlytics import __version__
from trainlytics.api.jwt_auth import JwtVerifier
from trainlytics.config import Settings
from trainlytics.connections.connect import (
    Deps,
    callback_bounce,
    complete_connection,
    disconnect,
    start_connection,
)
from trainlytics.connections.tokens import TokenService
from trainlytics.db.gateway import Gateway, PsycopgGateway, SupabaseGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.errors import (
    AuthenticationError,
    ConfigError,
    DatabaseUnavailableError,
    GatewayError,
    InsufficientScopeError,
    OAuthStateError,
    ProviderCapacityError,
    ProviderError,
    ProviderNotConfiguredError,
    TrainlyticsError,
    UnknownProviderError,
)
from trainlytics.logs import get_logger
from trainlytics.providers import PROVIDER_CLASSES, build_providers, get_provider
from trainlytics.providers.base import WebhookRequest
from trainlytics.sync.jobs import JobQueue
from trainlytics.sync.webhooks import VerificationGuard, handle_webhook

__all__ = ["build_deps", "create_app", "create_app_from_env"]

logger = get_logger(__name__)
request_logger = get_logger("trainlytics.http")

PROVIDER_DESCRIPTION = "The provider: " + ", ".join(PROVIDER_CLASSES) + "."
ProviderName = Annotated[str, Path(description=PROVIDER_DESCRIPTION)]


class StartResponse(BaseModel):
    provider: str
    authorize_url: str = Field(description="Send the athlete's browser here.")
    expires_at: datetime = Field(description="The link (its state) is valid until then.")


class DisconnectResponse(BaseModel):
    provider: str
    disconnected: bool = Field(description="False when there was nothing to disconnect.")
    revoked_at_provider: bool
    activities_deleted: int = Field(
        description="Activities deleted because the provider's terms require it (Strava)."
    )


class CompleteResponse(BaseModel):
    provider: str
    status: str = Field(description="connected or error")
    reason: str | None = Field(
        default=None, description="With status=error: a short reason code (see the README)."
    )


class ErrorResponse(BaseModel):
    error: str
    detail: str
    hint: str | None = None


class HealthResponse(BaseModel):
    status: str
    version: str
    providers: list[str] = Field(description="The providers configured on this deployment.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid access token."},
    404: {"model": ErrorResponse, "description": "No such provider."},
    503: {"model": ErrorResponse, "description": "Provider not configured, or no database."},
}

bearer = HTTPBearer(auto_error=False, description="The athlete's Supabase access token.")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError(
            "missing access token", hint="send Authorization: Bearer <Supabase access token>"
        )
    return credentials.credentials


def _error(status: int, code: str, exc: TrainlyticsError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = ErrorResponse(error=code, detail=exc.message, hint=exc.hint)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


#: Errors whose messages are written by this package (never a database's or provider's text)
#: and so may be shown in a 400 as they are.
_OWN_MESSAGES: tuple[type[TrainlyticsError], ...] = (
    ConfigError,
    InsufficientScopeError,
    OAuthStateError,
)
#: The fixed 400 answer for every other expected failure (e.g. a database refusal: its text
#: names tables and constraints, so it is logged, not returned).
_FIXED_BAD_REQUEST = (
    "the request could not be completed",
    "sign in again; if your account was deleted, it can no longer connect providers",
)


def _bad_request(exc: TrainlyticsError) -> JSONResponse:
    if isinstance(exc, _OWN_MESSAGES) and not isinstance(exc, GatewayError):
        body = ErrorResponse(error="bad_request", detail=exc.message, hint=exc.hint)
    else:
        detail, hint = _FIXED_BAD_REQUEST
        body = ErrorResponse(error="bad_request", detail=detail, hint=hint)
    return JSONResponse(body.model_dump(), status_code=400)


async def _read_body_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes: a declared Content-Length
    over the limit is refused before anything is read, and a body streamed without one (or
    lying about it) is read only up to the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return None
        except ValueError:
            return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class RedactQueryStrings(logging.Filter):
    """Drop query strings from the URLs httpx logs ("HTTP Request: GET <url> ..."): callbacks
    carry authorization codes there, and some provider APIs take tokens as query parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactQueryStrings` to the httpx logger (once), then the control
    character escaping of :func:`trainlytics.logs.get_logger`."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQueryStrings) for f in httpx_logger.filters):
        # First: the escaping filter formats the message, after which no URL is left to redact.
        httpx_logger.filters.insert(0, RedactQueryStrings())
    get_logger("httpx")  # escapes control characters, after the redaction


def build_deps(settings: Settings, http: httpx.Client, gateway: Gateway) -> Deps:
    """Wire the flows: providers on ``http``, store and job queue on ``gateway``."""
    providers = build_providers(settings, http)
    store = ConnectionStore(gateway)
    cipher = settings.token_cipher()
    return Deps(
        settings=settings,
        providers=providers,
        store=store,
        cipher=cipher,
        tokens=TokenService(
            store, cipher, providers, margin_seconds=settings.refresh_margin_seconds
        ),
        jobs=JobQueue(gateway),
        authenticate=JwtVerifier.from_settings(settings, http).verify,
    )


def create_app_from_env() -> FastAPI:
    """The app for ``trainlytics serve``: settings from the environment (everything missing is
    named in one error), the database through psycopg (``DATABASE_URL``, a pool acting as
    ``service_role``), else through the Supabase API (``SUPABASE_URL`` + service key), else the
    embedded server for local development, migrated on the spot like every command's."""
    from trainlytics.cli.readiness import check_ready
    from trainlytics.config_check import serve_missing
    from trainlytics.db.database import resolve_database_url

    missing = serve_missing()
    if missing:
        raise ConfigError(
            "serve is not configured: set " + ", ".join(missing),
            hint="see .env.example, or run `trainlytics config check`",
        )
    settings = Settings.from_env()
    gateway: Gateway
    if settings.database_url or not (settings.supabase_url and settings.supabase_service_role_key):
        url = resolve_database_url(settings.database_url)  # DATABASE_URL or the embedded one
        check_ready(url, queue=True)
        pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=10, open=True)
        gateway = PsycopgGateway(pool, role="service_role")
    http = httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0))
    if settings.supabase_url and settings.supabase_service_role_key and not settings.database_url:
        gateway = SupabaseGateway(settings.supabase_url, settings.supabase_service_role_key, http)
    return create_app(build_deps(settings, http, gateway))


def create_app(deps: Deps) -> FastAPI:
    """The ASGI app over ``deps``."""
    app = FastAPI(
        title="Trainlytics",
        version=__version__,
        description="Provider connections (OAuth), webhooks, and health of the Trainlytics "
        "sync backend.",
    )
    app.state.deps = deps
    guard = VerificationGuard()
    app.state.webhook_guard = guard
    install_log_redaction()

    @app.middleware("http")
    async def log_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The path only: query strings carry authorization codes and states.
        request_logger.info(
            "%s %s %s %.0fms",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    @app.exception_handler(AuthenticationError)
    async def _unauthenticated(request: Request, exc: AuthenticationError) -> JSONResponse:
        logger.info("%s %s: not authenticated: %s", request.method, request.url.path, exc.message)
        return _error(401, "unauthenticated", exc)

    @app.exception_handler(UnknownProviderError)
    async def _unknown(request: Request, exc: UnknownProviderError) -> JSONResponse:
        return _error(404, "unknown_provider", exc)

    @app.exception_handler(ProviderNotConfiguredError)
    async def _not_configured(request: Request, exc: ProviderNotConfiguredError) -> JSONResponse:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return _error(503, "provider_not_configured", exc)

    @app.exception_handler(ProviderCapacityError)
    async def _capacity(request: Request, exc: ProviderCapacityError) -> JSONResponse:
        # For the operator: the provider application is full; nothing else will fix it.
        logger.error("%s %s: %s (%s)", request.method, request.url.path, exc.message, exc.hint)
        return _error(503, "provider_capacity", exc)

    @app.exception_handler(DatabaseUnavailableError)
    async def _no_database(request: Request, exc: DatabaseUnavailableError) -> JSONResponse:
        logger.error("%s %s: %s", request.method, request.url.path, exc.message)
        return _error(503, "database_unavailable", exc)

    @app.exception_handler(ProviderError)
    async def _provider(request: Request, exc: ProviderError) -> JSONResponse:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return _error(502, "provider_error", exc)

    @app.exception_handler(TrainlyticsError)
    async def _expected(request: Request, exc: TrainlyticsError) -> JSONResponse:
        logger.warning(
            "%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc.message
        )
        return _bad_request(exc)

    @app.get("/health", response_model=HealthResponse, tags=["health"])
    def health() -> HealthResponse:
        """Liveness, and which providers this deployment has configured."""
        return HealthResponse(status="ok", version=__version__, providers=sorted(deps.providers))

    @app.post(
        "/connections/{provider}/start",
        response_model=StartResponse,
        responses=_ERRORS,
        tags=["connections"],
    )
    def start(provider: ProviderName, credentials: BearerCredentials) -> StartResponse:
        """Begin connecting a provider: returns the provider's authorize URL (one-time state,
        10 minutes, PKCE where the provider supports it)."""
        result = start_connection(deps, _token(credentials), provider)
        return StartResponse(
            provider=result.provider,
            authorize_url=result.authorize_url,
            expires_at=result.expires_at,
        )

    @app.get(
        "/oauth/{provider}/callback",
        status_code=302,
        response_class=RedirectResponse,
        responses={
            302: {"description": "To the frontend's completion page, with the provider's query."},
            404: _ERRORS[404],
            503: _ERRORS[503],
        },
        tags=["connections"],
    )
    def callback(provider: ProviderName, request: Request) -> RedirectResponse:
        """Where the provider sends the athlete back (``code``, ``state``, maybe ``scope`` or
        ``error``). Completes nothing: forwards the query to the frontend's
        ``/connections/complete`` page, which completes with the athlete's own token."""
        return RedirectResponse(
            callback_bounce(deps, provider, dict(request.query_params)), status_code=302
        )

    @app.post(
        "/connections/{provider}/complete",
        response_model=CompleteResponse,
        responses=_ERRORS,
        tags=["connections"],
    )
    def complete(
        provider: ProviderName,
        query: Annotated[
            dict[str, str],
            Body(
                description="The query of the provider's redirect, as an object of strings "
                "(code, state, scope, error, ...).",
                max_length=32,
            ),
        ],
        credentials: BearerCredentials,
    ) -> CompleteResponse:
        """Complete a connection from the provider's redirect: the state must have been issued
        to the caller (the flow is bound to the browser that finishes it). Exchanges the code,
        checks the granted scopes, stores the tokens and queues the initial sync."""
        result = complete_connection(deps, _token(credentials), provider, query)
        return CompleteResponse(
            provider=result.provider, status=result.status, reason=result.reason
        )

    @app.post(
        "/connections/{provider}/disconnect",
        response_model=DisconnectResponse,
        responses=_ERRORS,
        tags=["connections"],
    )
    def disconnect_route(
        provider: ProviderName, credentials: BearerCredentials
    ) -> DisconnectResponse:
        """Mark the connection disconnected through the same SQL as the athlete's own update
        (tokens queued for revocation, Strava data deleted), then revoke at the provider at
        once; keeps the activities except where the provider's terms require deletion."""
        result = disconnect(deps, _token(credentials), provider)
        return DisconnectResponse(
            provider=result.provider,
            disconnected=result.disconnected,
            revoked_at_provider=result.revoked_at_provider,
            activities_deleted=result.activities_deleted,
        )

    webhook_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Handshake answer or acknowledgement (provider-specific body)."},
        400: {"model": ErrorResponse, "description": "Malformed or too deeply nested body."},
        401: {"description": "Verification failed; nothing stored or queued."},
        413: {"description": "Body over the provider's cap; refused before it is read whole."},
        429: {"description": "Too many failed verifications from this sender; retry later."},
        404: _ERRORS[404],
        503: _ERRORS[503],
    }

    async def webhook(provider: ProviderName, request: Request) -> Response:
        """A provider's webhook: size-capped, verified on the raw body, then queued."""
        limit = get_provider(deps.providers, provider).max_webhook_body_bytes
        body = b""
        if request.method.upper() != "GET":
            capped = await _read_body_capped(request, limit)
            if capped is None:
                logger.warning("%s webhook refused: body over %s bytes", provider, limit)
                return JSONResponse({"detail": "webhook body too large"}, status_code=413)
            body = capped
        incoming = WebhookRequest(
            method=request.method,
            headers={key.lower(): value for key, value in request.headers.items()},
            query=dict(request.query_params),
            body=body,
            client=request.client.host if request.client else None,
        )
        answer = await run_in_threadpool(handle_webhook, deps, provider, incoming, guard=guard)
        if answer.body is None:
            return Response(status_code=answer.status_code)
        return JSONResponse(answer.body, status_code=answer.status_code)

    app.add_api_route(
        "/webhooks/{provider}",
        webhook,
        methods=["GET"],
        responses=webhook_responses,
        tags=["webhooks"],
        summary="Webhook subscription handshake",
        operation_id="webhook_handshake",
    )
    app.add_api_route(
        "/webhooks/{provider}",
        webhook,
        methods=["POST"],
        responses=webhook_responses,
        tags=["webhooks"],
        summary="Webhook event delivery",
        operation_id="webhook_event",
    )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error(
            "%s %s: unexpected %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
        )
        return JSONResponse(
            {"error": "internal_error", "detail": "unexpected error", "hint": None},
            status_code=500,
        )

    return app
