"""``trainlytics legacy import``: a Trainlytics v1 database into v2."""

from __future__ import annotations
