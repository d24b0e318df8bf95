"""Registry of the fake provider servers used by the end-to-end tests (tests/http).

Each provider has ``tests/fakes/<name>.py`` defining one :class:`FakeProvider` subclass whose
``name`` is the provider's. :data:`FAKES` maps provider name to that class, for every fake
module present; ``tests/http/test_fakes_registry.py`` requires one for every provider in
``trainlytics.providers``.
"""

from __future__ import annotations

import importlib
import inspect

from tests.fakes.base import FakeProvider, WebhookParts

__all__ = ["FAKES", "PROVIDER_NAMES", "FakeProvider", "WebhookParts"]

#: The provider_type values (kept equal to trainlytics.providers.PROVIDER_CLASSES by a test).
PROVIDER_NAMES = ("strava", "garmin", "polar", "coros", "wahoo", "fitbit")


def _discover() -> dict[str, type[FakeProvider]]:
    found: dict[str, type[FakeProvider]] = {}
    for name in PROVIDER_NAMES:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written yet: the registry test names it
            raise
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, FakeProvider) and not inspect.isabstract(obj) and obj.name == name:
                found[name] = obj
                break
    return found


FAKES: dict[str, type[FakeProvider]] = _discover()
