"""Encryption of OAuth tokens at rest: AES-256-GCM, keys from the environment, key ids for rotation.

API
---
- ``TokenCipher(keys: Mapping[str, bytes], current_kid: str)``
    - ``.current_kid -> str``
    - ``.encrypt(plaintext: str, *, aad: bytes) -> str`` — under the current key; base64 text of
      ``nonce (12 bytes) || ciphertext || tag (16 bytes)``.
    - ``.decrypt(ciphertext: str, *, key_id: str, aad: bytes) -> str`` — raises
      ``TokenDecryptionError`` (unknown key id, tampered ciphertext, wrong AAD, bad base64).
    - ``.seal(tokens: TokenSet, *, user_id, provider) -> SealedTokens`` — both tokens under the
      current key, ready for ``ConnectionStore``.
    - ``.open(sealed: SealedTokens, *, user_id, provider) -> TokenSet`` — the reverse
      (expiries carried over; scopes/identity are not stored with the tokens).
- ``token_aad(user_id, provider, field) -> bytes`` — the associated data binding a ciphertext to
  its row: ``trainlytics:<user uuid>:<provider>:<access_token|refresh_token>``. The connection
  id is unknown before the first insert, so user id + provider (unique per connection) are used:
  a ciphertext copied to another user's row, another provider or the other field fails to open.
- ``SealedTokens`` — key id, both ciphertexts (refresh may be None), both expiries.

Re-encryption under a new key is ``tokens.rotate_keys`` / ``trainlytics tokens rotate-key``.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trainlytics.errors import ConfigError, TokenDecryptionError
from trainlytics.providers.base import TokenSet

__all__ = [
    "SealedTokens",
    "TokenCipher",
    "TokenField",
    "token_aad",
]

NONCE_BYTES = 12
TAG_BYTES = 16
TokenField = Literal["access_token", "refresh_token"]


def token_aad(user_id: uuid.UUID | str, provider: str, field: TokenField) -> bytes:
    """Associated data binding a ciphertext to its user, provider and field."""
    return f"trainlytics:{uuid.UUID(str(user_id))}:{provider}:{field}".encode()


@dataclass(frozen=True)
class SealedTokens:
    """Encrypted tokens as stored in ``private.provider_tokens``."""

    key_id: str
    access_token_ciphertext: str = field(repr=False)
    refresh_token_ciphertext: str | None = field(repr=False)
    access_token_expires_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None


class TokenCipher:
    """AES-256-GCM with a 96-bit random nonce per encryption."""

    def __init__(self, keys: Mapping[str, bytes], current_kid: str) -> None:
        if current_kid not in keys:
            raise ConfigError(f"current token key {current_kid!r} is not among the keys")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ConfigError(f"token key {kid!r} must be 32 bytes (AES-256)")
        self._aeads = {kid: AESGCM(key) for kid, key in keys.items()}
        self._current = current_kid

    def __repr__(self) -> str:
        return f"TokenCipher(key_ids={sorted(self._aeads)!r}, current={self._current!r})"

    @property
    def current_kid(self) -> str:
        return self._current

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aeads)

    def encrypt(self, plaintext: str, *, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self._current].encrypt(nonce, plaintext.encode(), aad)
        return base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, ciphertext: str, *, key_id: str, aad: bytes) -> str:
        aead = self._aeads.get(key_id)
        if aead is None:
            raise TokenDecryptionError(
                f"tokens are sealed with key {key_id!r}, which is not configured",
                hint="add that key to TRAINLYTICS_TOKEN_KEYS (after the current one) until "
                "`trainlytics tokens rotate-key` has re-encrypted every row",
            )
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise TokenDecryptionError("stored token ciphertext is not valid base64") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise TokenDecryptionError("stored token ciphertext is too short")
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except InvalidTag:
            raise TokenDecryptionError(
                "stored token failed authentication (tampered, or moved to another row)"
            ) from None
        return plain.decode()

    def seal(self, tokens: TokenSet, *, user_id: uuid.UUID | str, provider: str) -> SealedTokens:
        return SealedTokens(
            key_id=self._current,
            access_token_ciphertext=self.encrypt(
                tokens.access_token, aad=token_aad(user_id, provider, "access_token")
            ),
            refresh_token_ciphertext=(
                None
                if tokens.refresh_token is None
                else self.encrypt(
                    tokens.refresh_token, aad=token_aad(user_id, provider, "refresh_token")
                )
            ),
            access_token_expires_at=tokens.expires_at,
            refresh_token_expires_at=tokens.refresh_token_expires_at,
        )

    def open(self, sealed: SealedTokens, *, user_id: uuid.UUID | str, provider: str) -> TokenSet:
        access = self.decrypt(
            sealed.access_token_ciphertext,
            key_id=sealed.key_id,
            aad=token_aad(user_id, provider, "access_token"),
        )
        refresh = (
            None
            if sealed.refresh_token_ciphertext is None
            else self.decrypt(
                sealed.refresh_token_ciphertext,
                key_id=sealed.key_id,
                aad=token_aad(user_id, provider, "refresh_token"),
            )
        )
        return TokenSet(
            access_token=access,
            refresh_token=refresh,
            expires_at=sealed.access_token_expires_at,
            refresh_token_expires_at=sealed.refresh_token_expires_at,
        )
