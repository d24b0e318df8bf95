"""Attacks on the OAuth state and the callback: forged, expired, reused, cross-user and
wrong-provider states are refused before any code is exchanged; PKCE is RFC 7636's S256."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from tests.fakes import FAKES
from tests.http.conftest import World, state_of
from trainlytics.connections.connect import code_challenge_s256, hash_state, new_code_verifier

PROVIDERS = sorted(FAKES)


def _connections(world: World, label: str) -> int:
    return int(
        world.one(
            "select count(*) from public.provider_connections where user_id = %s",
            [world.user(label)],
        )
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_forged_state_is_refused_without_exchanging_the_code(world: World, provider: str) -> None:
    fake = world.fakes[provider]
    outcome = world.callback(provider, fake.callback(secrets.token_urlsafe(32)))
    assert outcome == {"provider": provider, "status": "error", "reason": "invalid_state"}
    assert fake.token_exchanges == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_callback_without_state_is_refused(world: World, provider: str) -> None:
    query = world.fakes[provider].callback("x")
    del query["state"]
    assert world.callback(provider, query)["reason"] == "invalid_state"
    assert world.fakes[provider].token_exchanges == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_expired_state_is_refused(world: World, provider: str) -> None:
    state = state_of(world.start(provider))
    world.conn.execute(
        "update private.oauth_states set created_at = now() - interval '20 minutes',"
        " expires_at = now() - interval '10 minutes' where state_hash = %s",
        [hash_state(state)],
    )
    outcome = world.callback(provider, world.fakes[provider].callback(state))
    assert outcome["reason"] == "expired_state"
    assert world.fakes[provider].token_exchanges == 0
    assert _connections(world, "alice") == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_state_is_used_once(world: World, provider: str) -> None:
    fake = world.fakes[provider]
    state = state_of(world.start(provider))
    query = fake.callback(state)
    assert world.callback(provider, query)["status"] == "connected"
    replay = world.callback(provider, query)
    assert replay == {"provider": provider, "status": "error", "reason": "reused_state"}
    assert fake.token_exchanges == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_state_issued_for_another_provider_is_refused_and_spent(
    world: World, provider: str
) -> None:
    other = next(p for p in PROVIDERS if p != provider)
    state = state_of(world.start(other))
    outcome = world.callback(provider, world.fakes[provider].callback(state))
    assert outcome["reason"] == "wrong_provider"
    assert world.fakes[provider].token_exchanges == 0
    # spent: it cannot be replayed at the provider it was issued for either
    assert world.callback(other, world.fakes[other].callback(state))["reason"] == "reused_state"
    assert world.fakes[other].token_exchanges == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_attacker_cannot_link_a_victims_provider_account_by_sending_the_authorize_link(
    world: World, provider: str
) -> None:
    """Account-linking CSRF (issue 14, finding 2): Mallory starts a connection and sends the
    authorize link to Alice; Alice approves at the provider, and her browser finishes the flow.
    The flow is bound to the browser that finishes it: Alice's frontend completes with Alice's
    token, which is refused for Mallory's state — so Alice's provider account is linked to
    nobody, the code is never exchanged, and Alice can still connect it herself."""
    state = state_of(world.start(provider, "mallory"))
    world.user("alice")
    outcome = world.callback(provider, world.fakes[provider].callback(state), "alice")
    assert outcome.get("reason") == "state_user_mismatch", outcome
    assert _connections(world, "mallory") == 0
    assert _connections(world, "alice") == 0
    assert world.fakes[provider].token_exchanges == 0
    assert world.connect(provider, "alice")["status"] == "connected"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_completing_needs_the_athletes_own_token_and_spends_nothing_without_it(
    world: World, provider: str
) -> None:
    state = state_of(world.start(provider, "alice"))
    query = world.fakes[provider].callback(state)
    bounce = world.client.get(f"/oauth/{provider}/callback", params=query)
    assert bounce.status_code == 302
    assert world.fakes[provider].token_exchanges == 0
    anonymous = world.client.post(f"/connections/{provider}/complete", json=query)
    assert anonymous.status_code == 401
    assert world.callback(provider, query, "alice")["status"] == "connected"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_account_linked_to_another_user_is_refused(world: World, provider: str) -> None:
    assert world.connect(provider, "alice")["status"] == "connected"
    outcome = world.connect(provider, "mallory")  # same fake athlete, another Trainlytics user
    assert outcome == {
        "provider": provider,
        "status": "error",
        "reason": "account_linked_elsewhere",
    }
    assert _connections(world, "mallory") == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_athlete_declining_is_a_clear_error_and_spends_the_state(
    world: World, provider: str
) -> None:
    state = state_of(world.start(provider))
    outcome = world.callback(provider, {"state": state, "error": "access_denied"})
    assert outcome["reason"] == "access_denied"
    assert world.fakes[provider].token_exchanges == 0
    assert world.callback(provider, world.fakes[provider].callback(state))["reason"] == (
        "reused_state"
    )


def test_pkce_verifier_and_challenge_follow_rfc_7636() -> None:
    for _ in range(50):
        verifier = new_code_verifier()
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        )
        challenge = code_challenge_s256(verifier)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        assert challenge == base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        assert "=" not in challenge
        assert len(challenge) == 43
    assert len({new_code_verifier() for _ in range(100)}) == 100
