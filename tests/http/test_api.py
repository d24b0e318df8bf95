"""The app's contract: authentication, clear errors for unknown and unconfigured providers,
the published OpenAPI document, and a property-based run over every endpoint with no 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from psycopg_pool import ConnectionPool
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.fakes import FAKES
from tests.http.conftest import World, access_token, make_world
from tests.hypothesis_profiles import examples

PROVIDERS = sorted(FAKES)


@pytest.fixture
def half_world(database_url: str, service_pool: ConnectionPool[Any]) -> Iterator[World]:
    """A deployment where only the first provider is configured."""
    fakes = {name: cls() for name, cls in FAKES.items()}
    yield from make_world(database_url, service_pool, fakes, configured={PROVIDERS[0]})


def test_health(world: World) -> None:
    response = world.client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["providers"] == PROVIDERS


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_start_and_disconnect_require_a_valid_access_token(
    world: World, headers: dict[str, str]
) -> None:
    for action in ("start", "disconnect"):
        response = world.client.post(f"/connections/{PROVIDERS[0]}/{action}", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_expired_and_anon_tokens_are_refused(world: World) -> None:
    user = world.user("alice")
    for token in (access_token(user, expires_in=-60), access_token(user, role="anon")):
        response = world.client.post(
            f"/connections/{PROVIDERS[0]}/start", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401


def test_an_unknown_provider_is_404(world: World) -> None:
    for method, path in (
        ("POST", "/connections/myspace/start"),
        ("GET", "/oauth/myspace/callback?code=x&state=y"),
        ("POST", "/connections/myspace/disconnect"),
        ("POST", "/webhooks/myspace"),
        ("GET", "/webhooks/myspace"),
    ):
        response = world.client.request(method, path, headers=world.auth("alice"))
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "unknown_provider"


def test_an_unconfigured_provider_answers_a_clear_503(half_world: World) -> None:
    unconfigured = PROVIDERS[1]
    prefix = unconfigured.upper()
    for method, path in (
        ("POST", f"/connections/{unconfigured}/start"),
        ("GET", f"/oauth/{unconfigured}/callback?code=x&state=y"),
        ("POST", f"/connections/{unconfigured}/disconnect"),
        ("POST", f"/webhooks/{unconfigured}"),
        ("GET", f"/webhooks/{unconfigured}"),
    ):
        response = half_world.client.request(method, path, headers=half_world.auth("alice"))
        assert response.status_code == 503, (method, path)
        body = response.json()
        assert body["error"] == "provider_not_configured"
        assert unconfigured in body["detail"]
        assert f"{prefix}_CLIENT_ID" in body["hint"]
    assert half_world.client.get("/health").json()["providers"] == [PROVIDERS[0]]
    assert half_world.connect(PROVIDERS[0])["status"] == "connected"


def test_openapi_is_published_with_every_route(world: World) -> None:
    response = world.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert set(document["paths"]) == {
        "/health",
        "/connections/{provider}/start",
        "/connections/{provider}/complete",
        "/connections/{provider}/disconnect",
        "/oauth/{provider}/callback",
        "/webhooks/{provider}",
    }
    assert set(document["paths"]["/webhooks/{provider}"]) == {"get", "post"}
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert world.client.get("/docs").status_code == 200


# --- property-based: every operation, generated inputs, never a 500 ---------------------------


def test_no_endpoint_answers_500(world: World) -> None:
    """Every operation of the published schema, with generated paths, queries, headers and
    bodies; each case is sent as generated and again with a valid user token and a real
    provider name, so the generated inputs reach the flows rather than stopping at 401/404."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    token = access_token(world.user("fuzz"))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) == 7
    statuses: list[int] = []
    budget = examples(30)  # per operation: 30 under the full profiles, 6 under quick

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=budget,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call()
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])
            if case.path_parameters and "provider" in case.path_parameters:
                generated = str(case.path_parameters["provider"])
                case.path_parameters["provider"] = PROVIDERS[len(generated) % len(PROVIDERS)]
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call()
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        run()

    # the run reached the flows: successes, redirects and refusals, and no server error
    assert len(statuses) >= 6 * 2 * (budget // 3)
    assert {200, 302, 401, 404} <= set(statuses)
    assert not [status for status in statuses if status >= 500]
