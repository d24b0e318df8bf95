"""A fake Google OAuth 2.0 + Google Health API (Fitbit accounts) for ``httpx.MockTransport``:
code exchange with PKCE, non-rotating refresh (no ``refresh_token`` in the refresh answer; a
revoked grant answers Google's real 400 ``invalid_grant``), ``users/me/identity``, revocation,
webhook notifications authenticated by the subscriber's ``Authorization`` header and signed
with ECDSA P-256 (Tink keyset served at www.gstatic.com), and the athlete's exercises:
``GET /v4/users/me/dataTypes/exercise/dataPoints`` with ``pageSize`` capped at 25 and opaque
``pageToken``/``nextPageToken`` (absent on the last page), newest first, served from
:attr:`FakeFitbit.activities`.

Provenance of the rules (see tests/fixtures/providers/fitbit/PROVENANCE.md):

- The filter: developers.google.com/health/filters ("Filter types and fields": for the exercise
  session type the supported field is ``exercise.interval.civil_start_time``; "Supported
  operators": only ``>=`` and ``<``; civil literals such as ``"2026-03-04T00:00:00"``). An
  unsupported member answers 400 ``INVALID_ARGUMENT`` "Member 'exercise.interval.start_time' is
  not supported for filtering" with reason ``INVALID_DATA_POINT_FILTER_DATA_TYPE_MEMBER``
  (message and reason as quoted from third-party live logs in shared/docs/providers.md §0; the
  ``{"error": {code, message, status, details}}`` envelope is Google's AIP-193 error model).
- Civil time of an exercise = ``interval.startTime`` + ``interval.startUtcOffset`` (the v4
  reference's ``Interval``: civil fields are the local time at the offset).
- Signatures: the v4 reference ``EndpointAuthorization`` (ECDSA P-256 of the JSON payload,
  header ``X-HEALTHAPI-SIGNATURE`` / ``GOOGLE-HEALTH-API-SIGNATURE``); keyset location and Tink
  framing from independent receivers of the live API (see
  trainlytics.providers.google_signatures).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.base import FakeProvider, WebhookParts
from trainlytics.providers.base import ProviderCredentials

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "fitbit"
EXERCISE_POINTS_PATH = "/v4/users/me/dataTypes/exercise/dataPoints"
_FILTER_TERM = re.compile(r'^([a-z_.]+)\s*(>=|<)\s*"([^"]+)"$')
_CIVIL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
FILTER_FIELD = "exercise.interval.civil_start_time"
KEYSET_HOST = "www.gstatic.com"
KEYSET_PATH = "/googlehealthapi/webhooks/webhooks_public_keyset.json"


class _UnsupportedMember(ValueError):
    pass


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class FakeFitbit(FakeProvider):
    name: ClassVar[str] = "fitbit"

    def __init__(self, provider_user_id: str | None = None, *, scope: str | None = None) -> None:
        super().__init__(provider_user_id)
        #: The space-separated scopes Google reports as granted (default: everything requested).
        self.scope: str = scope or _fixture("token_exchange.json")["scope"]
        self._codes: set[str] = set()
        #: code -> S256 challenge, when a test registered the authorize URL's challenge.
        self._challenges: dict[str, str] = {}
        self._live_refresh_tokens: set[str] = set()
        self._live_access_tokens: set[str] = set()
        #: The athlete's exercise data points (the Health API's shape); tests fill it.
        self.activities: list[dict[str, Any]] = []
        #: The signing key Google would hold; its public half is served as a Tink keyset.
        self.signing_key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = secrets.randbelow(2**31 - 1) + 1
        self.keyset_fetches = 0
        #: Filters that were refused (what a test can assert the code never sends).
        self.refused_filters: list[str] = []

    def make_credentials(self) -> ProviderCredentials:
        return ProviderCredentials(
            client_id="123456789-trainlytics.apps.googleusercontent.com",
            client_secret="GOCSPX-test-" + secrets.token_hex(8),
            redirect_uri="https://api.trainlytics.test/oauth/fitbit/callback",
            # FITBIT_WEBHOOK_SECRET: the subscriber sends "Bearer <secret>" as Authorization.
            webhook_secret="google-health-test-webhook-" + secrets.token_hex(8),
        )

    # --- what the athlete's browser brings back --------------------------------------------

    def callback_query(self, state: str, code_challenge: str | None = None) -> dict[str, str]:
        """Google's redirect carries ``code``, ``state`` and the granted ``scope``. Pass the
        authorize URL's ``code_challenge`` to have the token endpoint check the verifier."""
        code = self.new_secret("4/0A")
        self._codes.add(code)
        if code_challenge is not None:
            self._challenges[code] = code_challenge
        return {"code": code, "state": state, "scope": self.scope}

    # --- the APIs --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        host, path, method = request.url.host, request.url.path, request.method
        if host == "oauth2.googleapis.com" and (method, path) == ("POST", "/token"):
            return self._token(request)
        if host == "oauth2.googleapis.com" and (method, path) == ("POST", "/revoke"):
            return self._revoke(request)
        if host == KEYSET_HOST and (method, path) == ("GET", KEYSET_PATH):
            self.keyset_fetches += 1
            return httpx.Response(200, json=self.keyset())
        if (
            host == "health.googleapis.com"
            and method == "GET"
            and path
            in (
                "/v4/users/me/identity",
                EXERCISE_POINTS_PATH,
            )
        ):
            header = request.headers.get("authorization", "")
            if not (header.startswith("Bearer ") and header[7:] in self._live_access_tokens):
                return httpx.Response(
                    401,
                    json={
                        "error": {
                            "code": 401,
                            "message": "Request had invalid authentication credentials.",
                            "status": "UNAUTHENTICATED",
                        }
                    },
                )
            if path == EXERCISE_POINTS_PATH:
                return self._exercise_points(request)
            identity = _fixture("identity.json")
            identity["healthUserId"] = self.provider_user_id
            return httpx.Response(200, json=identity)
        return httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND"}})

    def _exercise_points(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        try:
            page_size = min(max(int(params.get("pageSize", "25")), 1), 25)
            offset = (
                int(base64.urlsafe_b64decode(params["pageToken"]).decode())
                if ("pageToken" in params)
                else 0
            )
            bounds = _parse_filter(params.get("filter", ""))
        except _UnsupportedMember as exc:
            self.refused_filters.append(params.get("filter", ""))
            return httpx.Response(
                400,
                json={
                    "error": {
                        "code": 400,
                        "message": f"Member '{exc.args[0]}' is not supported for filtering",
                        "status": "INVALID_ARGUMENT",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "INVALID_DATA_POINT_FILTER_DATA_TYPE_MEMBER",
                                "domain": "health.googleapis.com",
                            }
                        ],
                    }
                },
            )
        except (ValueError, KeyError):
            self.refused_filters.append(params.get("filter", ""))
            return httpx.Response(
                400,
                json={
                    "error": {
                        "code": 400,
                        "message": "Request contains an invalid argument.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            )
        selected = [
            point
            for point in self.activities
            if all(compare(_point_civil_start(point), moment) for compare, moment in bounds)
        ]
        selected.sort(key=_point_start, reverse=True)
        page = selected[offset : offset + page_size]
        body: dict[str, Any] = {"dataPoints": page} if page else {}
        if offset + page_size < len(selected):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                str(offset + page_size).encode()
            ).decode()
        return httpx.Response(200, json=body)

    # --- signatures -------------------------------------------------------------------------

    def keyset(self) -> dict[str, Any]:
        """The public keyset in Tink's JSON format (one ENABLED ECDSA P-256 key, TINK prefix,
        DER signatures, SHA-256), as the receivers of the live API read it."""
        numbers = self.signing_key.public_key().public_numbers()
        params = bytes([0x08, 0x03, 0x10, 0x02, 0x18, 0x02])  # SHA256, NIST_P256, DER
        x = b"\x00" + numbers.x.to_bytes(32, "big")
        y = b"\x00" + numbers.y.to_bytes(32, "big")
        value = (
            bytes([0x12, len(params)])
            + params
            + bytes([0x1A, len(x)])
            + x
            + bytes([0x22, len(y)])
            + y
        )
        return {
            "primaryKeyId": self.key_id,
            "key": [
                {
                    "keyData": {
                        "typeUrl": "type.googleapis.com/google.crypto.tink.EcdsaPublicKey",
                        "value": base64.b64encode(value).decode(),
                        "keyMaterialType": "ASYMMETRIC_PUBLIC",
                    },
                    "status": "ENABLED",
                    "keyId": self.key_id,
                    "outputPrefixType": "TINK",
                }
            ],
        }

    def sign(self, body: bytes) -> str:
        der = self.signing_key.sign(body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(b"\x01" + self.key_id.to_bytes(4, "big") + der).decode()

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if (
            form.get("client_id") != self.credentials.client_id
            or form.get("client_secret") != self.credentials.client_secret
        ):
            return httpx.Response(
                401, json={"error": "invalid_client", "error_description": "Unauthorized"}
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            verifier = form.get("code_verifier", "")
            if (
                code not in self._codes
                or form.get("redirect_uri") != self.credentials.redirect_uri
                or not 43 <= len(verifier) <= 128
            ):
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "Bad Request"}
                )
            expected = self._challenges.pop(code, None)
            if expected is not None and expected != _s256(verifier):
                return httpx.Response(
                    400,
                    json={"error": "invalid_grant", "error_description": "Invalid code verifier."},
                )
            self._codes.discard(code)
            self.token_exchanges += 1
            body = _fixture("token_exchange.json")
            body["access_token"] = self._new_access_token()
            body["refresh_token"] = self.new_secret("1/")
            body["scope"] = self.scope
            self._live_refresh_tokens.add(body["refresh_token"])
            return httpx.Response(200, json=body)
        if grant == "refresh_token":
            self.refresh_calls += 1
            if form.get("refresh_token", "") not in self._live_refresh_tokens:
                return httpx.Response(400, json=_fixture("error_invalid_grant.json"))
            # Google does not rotate: the answer has no refresh_token, the old one stays valid.
            body = _fixture("token_refresh.json")
            body["access_token"] = self._new_access_token()
            body["scope"] = self.scope
            return httpx.Response(200, json=body)
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def _revoke(self, request: httpx.Request) -> httpx.Response:
        token = dict(parse_qsl(request.content.decode())).get("token", "")
        if token not in self._live_refresh_tokens | self._live_access_tokens:
            return httpx.Response(400, json=_fixture("error_invalid_token.json"))
        self.revocations += 1
        self._live_refresh_tokens.clear()
        self._live_access_tokens.clear()
        return httpx.Response(200, content=b"")

    def _new_access_token(self) -> str:
        token = self.new_secret("ya29.test")
        self._live_access_tokens.add(token)
        return token

    # --- webhooks --------------------------------------------------------------------------

    def _webhook(
        self,
        kind: str,
        authorization: str | None,
        *,
        signature: str | None = "valid",
        header: str = "x-healthapi-signature",
    ) -> WebhookParts:
        fixture = (
            "webhook_exercise_delete.json"
            if kind == "activity_deleted"
            else "webhook_exercise_upsert.json"
        )
        body = _fixture(fixture)
        body["data"]["healthUserId"] = self.provider_user_id
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if authorization is not None:
            headers["authorization"] = authorization
        if signature == "valid":
            headers[header] = self.sign(raw)
        elif signature == "forged":
            other = ec.generate_private_key(ec.SECP256R1())
            der = other.sign(raw, ec.ECDSA(hashes.SHA256()))
            headers[header] = base64.b64encode(
                b"\x01" + self.key_id.to_bytes(4, "big") + der
            ).decode()
        return headers, raw, {}

    def signed_webhook(
        self, kind: str = "activity_created", *, header: str = "x-healthapi-signature"
    ) -> WebhookParts:
        """An exercise notification for this fake's athlete (Google's notifications are
        notify-only: "activity_created" is an UPSERT of the exercise data type), with the
        subscriber's Authorization header and Google's signature."""
        return self._webhook(kind, f"Bearer {self.credentials.webhook_secret}", header=header)

    def unsigned_webhook(self, kind: str = "activity_created") -> WebhookParts:
        """The right Authorization header but no signature (a leaked secret)."""
        return self._webhook(kind, f"Bearer {self.credentials.webhook_secret}", signature=None)

    def wrongly_signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        """The right Authorization header, a signature by another key under Google's key id."""
        return self._webhook(kind, f"Bearer {self.credentials.webhook_secret}", signature="forged")

    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        return self._webhook(kind, "Bearer forged-" + secrets.token_hex(8), signature=None)


def _parse_filter(text: str) -> list[tuple[Any, datetime]]:
    """The filter grammar the API documents for exercise: ``civil_start_time`` terms with
    ``>=`` or ``<`` and civil (zone-less) literals, joined by ``AND``. Any other member is
    refused as the live API refuses it."""
    bounds: list[tuple[Any, datetime]] = []
    if not text.strip():
        return bounds
    for term in re.split(r"\s+AND\s+", text.strip()):
        match = _FILTER_TERM.match(term.strip())
        if match is None:
            raise ValueError(term)
        member, operator, literal = match.groups()
        if member != FILTER_FIELD:
            raise _UnsupportedMember(member)
        if not _CIVIL.match(literal):
            raise ValueError(literal)  # a civil time has no zone designator
        moment = datetime.fromisoformat(literal)
        if operator == ">=":
            bounds.append((lambda a, b: a >= b, moment))
        else:
            bounds.append((lambda a, b: a < b, moment))
    return bounds


def _point_start(point: dict[str, Any]) -> datetime:
    try:
        value = point["exercise"]["interval"]["startTime"]
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return datetime.min.replace(tzinfo=UTC)


def _point_civil_start(point: dict[str, Any]) -> datetime:
    """The local wall-clock start: the real start shifted by ``startUtcOffset`` (a Duration
    such as ``"-25200s"``), without a zone."""
    start = _point_start(point)
    if start == datetime.min.replace(tzinfo=UTC):
        return datetime.min
    try:
        offset = point["exercise"]["interval"].get("startUtcOffset", "0s")
        seconds = float(str(offset).rstrip("s"))
    except (KeyError, TypeError, ValueError, AttributeError):
        seconds = 0.0
    return (start + timedelta(seconds=seconds)).replace(tzinfo=None)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
