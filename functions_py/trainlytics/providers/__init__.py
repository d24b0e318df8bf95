"""The provider registry: providers are discovered, never listed by hand.

A provider is one module that defines ``PROVIDER``, its :class:`~trainlytics.providers.base.
Provider` subclass (name, settings, capabilities are class attributes there). Discovery finds:

- every module of this package (``pkgutil.iter_modules`` over ``__path__``, so a folder added
  to the package path counts too) that defines ``PROVIDER``;
- every entry point of the group ``trainlytics.providers`` (an installed plug-in), naming a
  Provider subclass or a module that defines ``PROVIDER``.

Adding a provider is therefore one new module (plus its SQL migration and tests): nothing here,
in ``config``, ``config_check``, the CLI or the HTTP app changes.

API
---
- ``PROVIDER_CLASSES: dict[str, type[Provider]]`` — ``provider_type`` value → provider class,
  in the enum's order (:attr:`Provider.position`).
- ``discover_providers() -> dict[str, type[Provider]]`` and ``refresh_registry()`` (discovers
  again and updates ``PROVIDER_CLASSES`` in place, e.g. after a plug-in was installed).
- ``build_providers(settings, http, *, clock) -> dict[str, Provider]`` — one instance per
  *configured* provider (client id set), sharing the one ``httpx.Client`` built by the caller.
- ``get_provider(providers, name) -> Provider`` — the instance, or ``ProviderNotConfiguredError``
  (configured nowhere) / ``UnknownProviderError`` for a name that is no provider.

Everything else reaches a provider through these, never with ``if provider == ...``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import httpx

from trainlytics.clock import Clock, utc_now
from trainlytics.errors import ConfigError, ProviderNotConfiguredError, UnknownProviderError
from trainlytics.providers.base import Provider

if TYPE_CHECKING:
    from trainlytics.config import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROVIDER_CLASSES",
    "build_providers",
    "discover_providers",
    "get_provider",
    "refresh_registry",
]

#: The entry-point group through which an installed package adds providers.
ENTRY_POINT_GROUP = "trainlytics.providers"


def discover_providers() -> dict[str, type[Provider]]:
    """Every provider of this package's modules and of the entry-point group, by name, in
    :attr:`Provider.position` order (then by name)."""
    found: dict[str, type[Provider]] = {}
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        module = importlib.import_module(info.name)
        if hasattr(module, "PROVIDER"):
            _register(found, module.PROVIDER, info.name)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        _register(found, getattr(loaded, "PROVIDER", loaded), point.value)
    return dict(sorted(found.items(), key=lambda item: (item[1].position, item[0])))


def _register(found: dict[str, type[Provider]], candidate: Any, origin: str) -> None:
    if not (isinstance(candidate, type) and issubclass(candidate, Provider)):
        raise ConfigError(f"provider {origin}: PROVIDER is not a Provider subclass")
    existing = found.get(candidate.name)
    if existing is not None and existing is not candidate:
        raise ConfigError(
            f"provider {candidate.name!r} is defined twice ({origin} and {existing.__module__})",
            hint="uninstall one of the two plug-ins",
        )
    found[candidate.name] = candidate


#: ``provider_type`` enum value → provider class (filled by discovery at import).
PROVIDER_CLASSES: dict[str, type[Provider]] = {}


def refresh_registry() -> None:
    """Discover again; ``PROVIDER_CLASSES`` is updated in place, so every module that imported
    it sees the change."""
    discovered = discover_providers()
    PROVIDER_CLASSES.clear()
    PROVIDER_CLASSES.update(discovered)


refresh_registry()


def build_providers(
    settings: Settings, http: httpx.Client, *, clock: Clock = utc_now
) -> dict[str, Provider]:
    """One instance per configured provider, all sharing ``http`` and ``clock``."""
    return {
        name: PROVIDER_CLASSES[name](credentials, http, clock=clock)
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
