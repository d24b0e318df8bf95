"""The provider registry: the only place that names all six providers.

API
---
- ``PROVIDER_CLASSES: dict[str, type[Provider]]`` — ``provider_type`` value → provider class.
- ``build_providers(settings, http) -> dict[str, Provider]`` — one instance per *configured*
  provider (client id set), sharing the one ``httpx.Client`` built by the caller. Unconfigured
  providers are absent; ``settings.credentials(name)`` raises ``ProviderNotConfiguredError``.
- ``get_provider(providers, name) -> Provider`` — the instance, or ``ProviderNotConfiguredError``
  (configured nowhere) / ``KeyError``-free ``UnknownProviderError`` for a name that is no provider.

Everything else reaches a provider through these, never with ``if provider == ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

from trainlytics.errors import ProviderNotConfiguredError, UnknownProviderError
from trainlytics.providers.base import Provider
from trainlytics.providers.coros import CorosProvider
from trainlytics.providers.fitbit import FitbitProvider
from trainlytics.providers.garmin import GarminProvider
from trainlytics.providers.polar import PolarProvider
from trainlytics.providers.strava import StravaProvider
from trainlytics.providers.wahoo import WahooProvider

if TYPE_CHECKING:
    from trainlytics.config import Settings

__all__ = [
    "PROVIDER_CLASSES",
    "build_providers",
    "get_provider",
]

#: ``provider_type`` enum value → provider class. Order is the enum's order.
PROVIDER_CLASSES: dict[str, type[Provider]] = {
    cls.name: cls
    for cls in (
        StravaProvider,
        GarminProvider,
        PolarProvider,
        CorosProvider,
        WahooProvider,
        FitbitProvider,
    )
}


def build_providers(settings: Settings, http: httpx.Client) -> dict[str, Provider]:
    """One instance per configured provider, all sharing ``http``."""
    return {
        name: PROVIDER_CLASSES[name](credentials, http)
        for name, credentials in settings.providers.items()
        if name in PROVIDER_CLASSES
    }


def get_provider(providers: Mapping[str, Provider], name: str) -> Provider:
    """The configured provider called ``name``.

    Raises UnknownProviderError for a name that is no provider, ProviderNotConfiguredError for
    a provider this deployment has no credentials for."""
    if name not in PROVIDER_CLASSES:
        raise UnknownProviderError(name, PROVIDER_CLASSES)
    provider = providers.get(name)
    if provider is None:
        prefix = name.upper()
        raise ProviderNotConfiguredError(name, [f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"])
    return provider
