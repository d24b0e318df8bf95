"""CLI command groups, one module each; :mod:`trainlytics.cli` mounts them."""

from __future__ import annotations
