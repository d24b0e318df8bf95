# ruff: noqa: S105, S106 - test tokens and secrets are fake values
"""AES-GCM sealing of tokens: round trip, tamper detection, AAD binding, key ids."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.core.conftest import random_key, tokens
from trainlytics.connections.crypto import TokenCipher, token_aad
from trainlytics.errors import ConfigError, TokenDecryptionError
from trainlytics.providers.base import TokenSet

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_USER = uuid.UUID("00000000-0000-4000-8000-000000000002")


def test_round_trip_of_a_token_set() -> None:
    cipher = TokenCipher({"k1": random_key()}, "k1")
    original = tokens("abc")

    sealed = cipher.seal(original, user_id=USER, provider="strava")
    opened = cipher.open(sealed, user_id=USER, provider="strava")

    assert sealed.key_id == "k1"
    assert opened.access_token == original.access_token
    assert opened.refresh_token == original.refresh_token
    assert opened.expires_at == original.expires_at
    assert "access-abc" not in sealed.access_token_ciphertext
    assert "access-abc" not in repr(sealed)


def test_ciphertext_is_base64_of_nonce_ciphertext_and_tag_with_a_fresh_nonce() -> None:
    cipher = TokenCipher({"k1": random_key()}, "k1")
    aad = token_aad(USER, "strava", "access_token")

    first = base64.b64decode(cipher.encrypt("secret-token", aad=aad))
    second = base64.b64decode(cipher.encrypt("secret-token", aad=aad))

    assert len(first) == 12 + len("secret-token") + 16
    assert first[:12] != second[:12]
    assert first != second


def test_a_token_without_refresh_token_round_trips() -> None:
    cipher = TokenCipher({"k1": random_key()}, "k1")
    sealed = cipher.seal(TokenSet(access_token="polar-only"), user_id=USER, provider="polar")
    assert sealed.refresh_token_ciphertext is None
    assert cipher.open(sealed, user_id=USER, provider="polar").refresh_token is None


@pytest.mark.parametrize("position", [0, 12, -1])  # nonce, ciphertext, tag
def test_a_tampered_ciphertext_is_rejected(position: int) -> None:
    cipher = TokenCipher({"k1": random_key()}, "k1")
    aad = token_aad(USER, "strava", "access_token")
    raw = bytearray(base64.b64decode(cipher.encrypt("secret-token", aad=aad)))
    raw[position] ^= 0x01

    with pytest.raises(TokenDecryptionError, match="failed authentication"):
        cipher.decrypt(base64.b64encode(bytes(raw)).decode(), key_id="k1", aad=aad)


@pytest.mark.parametrize(
    "wrong_aad",
    [
        token_aad(OTHER_USER, "strava", "access_token"),  # copied to another user's row
        token_aad(USER, "garmin", "access_token"),  # to another provider
        token_aad(USER, "strava", "refresh_token"),  # swapped with the other field
    ],
)
def test_a_ciphertext_moved_to_another_row_or_field_is_rejected(wrong_aad: bytes) -> None:
    cipher = TokenCipher({"k1": random_key()}, "k1")
    ciphertext = cipher.encrypt("secret-token", aad=token_aad(USER, "strava", "access_token"))

    with pytest.raises(TokenDecryptionError) as caught:
        cipher.decrypt(ciphertext, key_id="k1", aad=wrong_aad)
    assert "secret-token" not in str(caught.value)


def test_the_wrong_key_cannot_open_and_an_unknown_key_id_says_what_to_do() -> None:
    old, new = random_key(), random_key()
    sealed = TokenCipher({"old": old}, "old").seal(tokens(), user_id=USER, provider="strava")

    impostor = TokenCipher({"old": new}, "old")
    without_old = TokenCipher({"new": new}, "new")
    with_both = TokenCipher({"new": new, "old": old}, "new")

    with pytest.raises(TokenDecryptionError):
        impostor.open(sealed, user_id=USER, provider="strava")
    with pytest.raises(TokenDecryptionError, match="'old'") as caught:
        without_old.open(sealed, user_id=USER, provider="strava")
    assert caught.value.hint is not None
    assert "TRAINLYTICS_TOKEN_KEYS" in caught.value.hint
    assert with_both.open(sealed, user_id=USER, provider="strava").access_token == "access-0"
    assert with_both.seal(tokens(), user_id=USER, provider="strava").key_id == "new"


def test_garbage_is_rejected_cleanly() -> None:
    cipher = TokenCipher({"k1": random_key()}, "k1")
    aad = token_aad(USER, "strava", "access_token")
    with pytest.raises(TokenDecryptionError, match="base64"):
        cipher.decrypt("not base64!!", key_id="k1", aad=aad)
    with pytest.raises(TokenDecryptionError, match="too short"):
        cipher.decrypt(base64.b64encode(b"short").decode(), key_id="k1", aad=aad)


def test_cipher_refuses_bad_keys_and_hides_them_from_repr() -> None:
    key = random_key()
    with pytest.raises(ConfigError):
        TokenCipher({"k1": b"short"}, "k1")
    with pytest.raises(ConfigError):
        TokenCipher({"k1": key}, "k2")
    assert key.hex() not in repr(TokenCipher({"k1": key}, "k1"))
