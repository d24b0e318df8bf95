"""Verification of the ECDSA signatures Google Health API puts on webhook notifications.

What Google documents (the v4 REST reference and its generated client libraries,
``EndpointAuthorization``): "For all requests sent by the Webhooks service, the JSON payload is
cryptographically signed. The signature is delivered in the ``X-HEALTHAPI-SIGNATURE`` HTTP
header [the Dart/pub.dev rendering of the same reference names it
``GOOGLE-HEALTH-API-SIGNATURE``]. This is an ECDSA (NIST P256) signature of the JSON payload.
Clients must verify this signature using Google Health API's public key."
(https://googleapis.dev/dotnet/Google.Apis.GoogleHealthAPI.v4/latest/api/Google.Apis.GoogleHealthAPI.v4.Data.EndpointAuthorization.html,
https://pub.dev/documentation/googleapis/latest/health_v4/EndpointAuthorization-class.html)

What the documentation does not say, and independent receivers of the live API agree on
(several public code bases, read, not copied): the public key is published as a **Tink public
keyset in JSON** at :data:`KEYSET_URL`; the header value is base64 of a Tink signature, i.e.
for a key with ``outputPrefixType`` ``TINK`` the bytes ``0x01`` + the 4-byte big-endian
``keyId``, then the ECDSA signature (DER for ``EcdsaParams.encoding`` = DER) over the **raw
body**, hash SHA-256. Tink's wire format (developers.google.com/tink/wire-format) defines the
prefix and the keyset JSON; ``keyData.value`` is a serialised ``EcdsaPublicKey`` protobuf
(field 2 params {1 hash_type, 2 curve, 3 encoding}, field 3 x, field 4 y; big-endian, possibly
with a leading zero byte). Keys rotate: an unknown key id refetches the keyset (at most once per
:data:`MIN_REFETCH_SECONDS`).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from trainlytics.errors import WebhookVerificationError

__all__ = [
    "KEYSET_URL",
    "SIGNATURE_HEADERS",
    "TinkKeysetVerifier",
    "parse_ecdsa_public_key",
]

#: Where the public keyset is published (independent receivers; not on Google's pages).
KEYSET_URL = "https://www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json"
#: Both header names Google's reference uses for the signature (lower-cased).
SIGNATURE_HEADERS: tuple[str, ...] = ("x-healthapi-signature", "google-health-api-signature")
#: Type URL of an ECDSA public key in a Tink keyset.
ECDSA_PUBLIC_KEY_TYPE = "type.googleapis.com/google.crypto.tink.EcdsaPublicKey"
#: How long a fetched keyset is used before it is fetched again.
KEYSET_TTL_SECONDS = 3600.0
#: An unknown key id refetches the keyset, but not more often than this.
MIN_REFETCH_SECONDS = 60.0
#: Largest keyset accepted (a keyset of a few keys is about 1 KB).
MAX_KEYSET_BYTES = 64 * 1024

# Tink enum values (tink/proto/common.proto, ecdsa.proto).
_HASH_SHA256 = 3
_CURVE_NIST_P256 = 2
_ENCODING_IEEE_P1363 = 1
_ENCODING_DER = 2
_TINK_PREFIX_BYTE = 0x01


@dataclass(frozen=True)
class _Key:
    key_id: int
    prefixed: bool  # outputPrefixType TINK (5-byte prefix) vs RAW
    der: bool  # signature encoding DER vs IEEE P1363 (r || s)
    public_key: ec.EllipticCurvePublicKey


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> dict[int, bytes | int]:
    """The top-level fields of a protobuf message (varint and length-delimited only)."""
    fields: dict[int, bytes | int] = {}
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields[number] = value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            fields[number] = data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def parse_ecdsa_public_key(value: bytes) -> tuple[ec.EllipticCurvePublicKey, bool]:
    """A serialised Tink ``EcdsaPublicKey`` → (P-256 public key, DER encoding?). Refuses any
    other hash, curve or encoding than SHA-256 / NIST P-256 / DER or IEEE P1363."""
    fields = _fields(value)
    params, x, y = fields.get(2), fields.get(3), fields.get(4)
    if not isinstance(params, bytes) or not isinstance(x, bytes) or not isinstance(y, bytes):
        raise ValueError("EcdsaPublicKey without params, x or y")
    p = _fields(params)
    if p.get(1) != _HASH_SHA256 or p.get(2) != _CURVE_NIST_P256:
        raise ValueError("not an ECDSA P-256 / SHA-256 key")
    encoding = p.get(3)
    if encoding not in (_ENCODING_DER, _ENCODING_IEEE_P1363):
        raise ValueError("unknown signature encoding")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    )
    return numbers.public_key(), encoding == _ENCODING_DER


def _keys_of(keyset: Any) -> dict[int, _Key]:
    keys: dict[int, _Key] = {}
    entries = keyset.get("key") if isinstance(keyset, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the keyset has no key list")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("status") != "ENABLED":
            continue
        data = entry.get("keyData")
        key_id = entry.get("keyId")
        prefix = entry.get("outputPrefixType")
        if (
            not isinstance(data, dict)
            or data.get("typeUrl") != ECDSA_PUBLIC_KEY_TYPE
            or not isinstance(key_id, int)
            or prefix not in ("TINK", "RAW")
        ):
            continue
        try:
            public_key, der = parse_ecdsa_public_key(base64.b64decode(str(data.get("value"))))
        except (ValueError, binascii.Error):
            continue
        keys[key_id & 0xFFFFFFFF] = _Key(key_id & 0xFFFFFFFF, prefix == "TINK", der, public_key)
    return keys


class TinkKeysetVerifier:
    """Verifies a base64 Tink signature of a raw body against a published public keyset."""

    def __init__(
        self,
        http: httpx.Client,
        keyset_url: str = KEYSET_URL,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.keyset_url = keyset_url
        self._clock = clock
        self._keys: dict[int, _Key] = {}
        self._fetched_at: float | None = None

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise WebhookVerificationError unless one of :data:`SIGNATURE_HEADERS` holds a valid
        signature of ``body`` by an enabled key of the keyset."""
        value = next((headers[name] for name in SIGNATURE_HEADERS if headers.get(name)), None)
        if value is None:
            raise WebhookVerificationError("google health notification without a signature")
        try:
            signed = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise WebhookVerificationError("google health signature is not base64") from None
        self._load(force=False)
        candidates: list[tuple[_Key, bytes]] = []
        if len(signed) > 5 and signed[0] == _TINK_PREFIX_BYTE:
            key_id = int.from_bytes(signed[1:5], "big")
            if key_id not in self._keys and self._may_refetch():
                self._load(force=True)  # a rotated key
            key = self._keys.get(key_id)
            if key is not None and key.prefixed:
                candidates.append((key, signed[5:]))
        candidates.extend((key, signed) for key in self._keys.values() if not key.prefixed)
        for key, signature in candidates:
            if _valid(key, signature, body):
                return
        raise WebhookVerificationError("google health signature does not verify")

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= MIN_REFETCH_SECONDS

    def _load(self, *, force: bool) -> None:
        fresh = (
            self._fetched_at is not None and self._clock() - self._fetched_at < KEYSET_TTL_SECONDS
        )
        if fresh and not force:
            return
        try:
            response = self.http.get(self.keyset_url, follow_redirects=False)
        except httpx.HTTPError:
            raise WebhookVerificationError(
                "the google health public keyset could not be fetched"
            ) from None
        self._fetched_at = self._clock()
        if response.status_code != 200 or len(response.content) > MAX_KEYSET_BYTES:
            raise WebhookVerificationError(
                f"the google health public keyset answered HTTP {response.status_code}"
            )
        try:
            self._keys = _keys_of(json.loads(response.content))
        except (ValueError, UnicodeDecodeError):
            raise WebhookVerificationError(
                "the google health public keyset is unreadable"
            ) from None


def _valid(key: _Key, signature: bytes, body: bytes) -> bool:
    if not key.der:
        if len(signature) != 64:
            return False
        signature = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
    try:
        key.public_key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
