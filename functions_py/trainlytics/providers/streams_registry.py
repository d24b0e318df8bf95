"""Which providers have a stream source: discovered, never listed by hand.

A provider's stream module (``providers/streams_<provider>.py``) declares
``STREAM_SOURCE_CLASSES``, a tuple of its :class:`~trainlytics.providers.streams_base.
StreamSource` subclasses; discovery walks this package's modules (as provider discovery does,
``providers/__init__.py``), lazily on first use so that importing the package stays cheap and
free of cycles.

Garmin has none: its partner API allows no ad-hoc pulls; an activity's samples reach us only in
an ``activityDetails`` ping callback, which the summary sync reads and stores
(``GarminProvider.with_detail_streams``; README "Streams from providers").
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache

from trainlytics.errors import ConfigError
from trainlytics.providers.base import Provider
from trainlytics.providers.streams_base import StreamSource

__all__ = ["stream_source_for", "stream_sources"]


@cache
def stream_sources() -> dict[str, type[StreamSource]]:
    """``provider_type`` → its stream source class, from every module of this package that
    declares ``STREAM_SOURCE_CLASSES``."""
    import trainlytics.providers as package

    found: dict[str, type[StreamSource]] = {}
    for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for cls in getattr(module, "STREAM_SOURCE_CLASSES", ()):
            if not (isinstance(cls, type) and issubclass(cls, StreamSource)):
                raise ConfigError(f"{info.name}: STREAM_SOURCE_CLASSES holds a non-StreamSource")
            if cls.provider_name in found and found[cls.provider_name] is not cls:
                raise ConfigError(f"two stream sources for {cls.provider_name!r}")
            found[cls.provider_name] = cls
    return found


def stream_source_for(providers: Mapping[str, Provider], name: str) -> StreamSource | None:
    """The configured provider's stream source; None when it has none or is not configured."""
    cls = stream_sources().get(name)
    provider = providers.get(name)
    if cls is None or provider is None:
        return None
    return cls(provider)
