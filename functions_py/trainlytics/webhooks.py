"""Provider webhooks: verify on the raw body, route by the provider's user id, queue the work.

:func:`handle_webhook` is the whole endpoint, independent of the web framework:

- ``GET``: the provider's subscription handshake (:meth:`Provider.handle_webhook_get`).
- ``POST``: :meth:`Provider.verify_webhook` on the raw bytes first. A forged request gets 401
  and one log line; nothing is parsed, stored or queued. Then :meth:`Provider.parse_webhook`
  (a malformed body: 400). Each event is routed to the *active* connection of its provider
  account; an unknown owner is a logged no-op (the provider still gets its ack, or it would
  retry forever). A ``deauthorized`` event marks the connection revoked (and, where the
  provider's terms require it, deletes the activities synchronised from it: Strava). Any other
  event is queued as a ``process_webhook_event`` job, with a queueing lock derived from the
  event so that a replay does not queue it twice, and the answer is the provider's ack.

Answering fast is the point: providers give a few seconds (Strava 2 s, Garmin and Polar a
little more) before they retry, so nothing here calls the provider.

Log lines name the provider, the event kind and ids; never a header value, body, token or
secret.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from trainlytics.errors import BadPayloadError, WebhookVerificationError
from trainlytics.providers import get_provider
from trainlytics.providers.base import WebhookEvent, WebhookRequest, WebhookResponse

if TYPE_CHECKING:
    from trainlytics.connect import Deps

__all__ = ["handle_webhook"]

logger = logging.getLogger(__name__)

#: What a deauthorisation at the provider leaves as the connection's last_error.
DEAUTHORIZED_REASON = "access was withdrawn at the provider; reconnect to sync again"


def handle_webhook(deps: Deps, provider_name: str, request: WebhookRequest) -> WebhookResponse:
    """Answer one webhook request (see the module docstring)."""
    provider = get_provider(deps.providers, provider_name)
    method = request.method.upper()
    if method == "GET":
        return provider.handle_webhook_get(request)
    if method != "POST":
        return WebhookResponse(405, {"detail": "method not allowed"})
    try:
        provider.verify_webhook(request)
    except WebhookVerificationError as exc:
        logger.warning("%s webhook rejected: %s", provider_name, exc.message)
        return WebhookResponse(401, {"detail": "webhook verification failed"})
    try:
        events = provider.parse_webhook(request)
    except BadPayloadError as exc:
        logger.warning("%s webhook with a malformed body: %s", provider_name, exc.message)
        return WebhookResponse(400, {"detail": "malformed webhook body"})
    for event in events:
        _handle_event(deps, provider_name, event)
    return provider.webhook_ack_for(request)


def _handle_event(deps: Deps, provider_name: str, event: WebhookEvent) -> None:
    provider = deps.providers[provider_name]
    found = deps.store.find_by_provider_user(provider_name, event.provider_user_id)
    if found is None:
        logger.info(
            "%s webhook %s for provider user %s: no active connection, ignored",
            provider_name,
            event.kind,
            event.provider_user_id,
        )
        return
    connection_id = found.connection_id
    if event.kind == "deauthorized":
        deps.store.mark_revoked(connection_id, DEAUTHORIZED_REASON)
        deleted = 0
        if provider.delete_activities_on_disconnect:
            deleted = deps.store.disconnect(
                connection_id, delete_activities=True
            ).activities_deleted
        logger.info(
            "%s webhook: connection %s deauthorised at the provider (%s activities deleted)",
            provider_name,
            connection_id,
            deleted,
        )
        return
    job = deps.jobs.enqueue_webhook_event(provider_name, connection_id, event)
    logger.info(
        "%s webhook %s (object %s) for connection %s: %s",
        provider_name,
        event.kind,
        event.object_id,
        connection_id,
        "queued" if job.queued else "already queued (replay)",
    )
