"""CLI command groups, one module each; :mod:`trainlytics.cli.main` mounts them."""

from __future__ import annotations
