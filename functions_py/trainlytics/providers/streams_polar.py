"""Polar streams: the exercise's FIT file, ``GET /v3/exercises/{exerciseId}/fit``.

Polar AccessLink v3 (polar.com/accesslink-api, "Exercises": "Get exercise FIT" — hashed id,
``accesslink.read_all``; 200 with the FIT bytes, 404 "Exercise not found", 403 "User has not
accepted all mandatory consents"). Only exercises uploaded in the **last 30 days** are served,
so older activities are not even tried (:attr:`horizon`). The FIT file holds the records
(time, position, altitude, heart rate, speed, cadence, power, distance) that
``?samples=true`` would give as comma-separated strings of sample types; the FIT path reuses
the importers' reader and gives positions too. Polar's limits scale with the number of
registered users and are not published as fixed numbers: no shared bucket is declared (the
job's per-run batch bounds the calls); a 429 is honoured through the job's retry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from trainlytics.errors import FileImportError, ProviderError, TokenRevokedError
from trainlytics.providers.base import TokenSet
from trainlytics.providers.http import request
from trainlytics.providers.polar import EXERCISES_URL
from trainlytics.providers.stream_convert import from_fit
from trainlytics.providers.streams_base import StreamFetch, StreamSource, StreamTarget, read_capped

__all__ = [
    "FIT_URL",
    "STREAM_SOURCE_CLASSES",
    "PolarStreams",
]

FIT_URL = f"{EXERCISES_URL}/{{exercise_id}}/fit"


class PolarStreams(StreamSource):
    provider_name: ClassVar[str] = "polar"
    horizon: ClassVar[timedelta | None] = timedelta(days=30)

    def fetch(self, tokens: TokenSet, target: StreamTarget) -> StreamFetch:
        exercise_id = target.external_id
        if not exercise_id or not exercise_id.isalnum():
            return StreamFetch.unavailable("not a Polar exercise id", api_calls=0)
        response = request(
            self.http,
            "polar",
            "GET",
            FIT_URL.format(exercise_id=exercise_id),
            headers={"Authorization": f"Bearer {tokens.access_token}", "Accept": "*/*"},
        )
        if response.status_code == 401:
            raise TokenRevokedError(
                "polar",
                "reading an exercise file: the access token was refused (HTTP 401)",
                status_code=401,
                hint="the athlete must connect Polar again",
            )
        if response.status_code in (204, 404):
            return StreamFetch.unavailable(
                f"Polar has no file for this exercise (HTTP {response.status_code}; Polar "
                "serves exercises uploaded in the last 30 days)"
            )
        if response.status_code == 403:
            # Not this exercise's fault, and the athlete can fix it: a failed attempt, retried.
            raise ProviderError(
                "polar",
                "Polar refused the exercise file: the athlete has not accepted all mandatory "
                "consents in Polar Flow (HTTP 403)",
                status_code=403,
            )
        if response.status_code != 200:
            raise ProviderError(
                "polar",
                f"reading an exercise file failed (HTTP {response.status_code})",
                status_code=response.status_code,
            )
        try:
            streams = from_fit(read_capped(response, "polar"))
        except FileImportError as exc:
            return StreamFetch.unavailable(f"the FIT file is unreadable: {exc.message[:200]}")
        if streams is None:
            return StreamFetch.unavailable("the FIT file holds no timed records")
        return StreamFetch(streams=streams)


#: Discovered by :func:`trainlytics.providers.streams_registry.stream_sources`.
STREAM_SOURCE_CLASSES = (PolarStreams,)
