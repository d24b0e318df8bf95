"""Which providers have a stream source (the only place naming them for streams).

Garmin has none: its partner API allows no ad-hoc pulls, and an activity's samples reach us
only in an ``activityDetails`` ping callback, whose single-use content the summary sync reads
(see README "Streams from providers").
"""

from __future__ import annotations

from collections.abc import Mapping

from trainlytics.providers.base import Provider
from trainlytics.providers.streams_base import StreamSource
from trainlytics.providers.streams_files import CorosStreams, WahooStreams
from trainlytics.providers.streams_fitbit import GoogleHealthStreams
from trainlytics.providers.streams_polar import PolarStreams
from trainlytics.providers.streams_strava import StravaStreams

__all__ = ["STREAM_SOURCES", "stream_source_for"]

STREAM_SOURCES: dict[str, type[StreamSource]] = {
    cls.provider_name: cls
    for cls in (StravaStreams, PolarStreams, WahooStreams, CorosStreams, GoogleHealthStreams)
}


def stream_source_for(providers: Mapping[str, Provider], name: str) -> StreamSource | None:
    """The configured provider's stream source; None when it has none or is not configured."""
    cls = STREAM_SOURCES.get(name)
    provider = providers.get(name)
    if cls is None or provider is None:
        return None
    return cls(provider)
