"""Trainlytics: database and sync backend of a training-analytics platform."""

from __future__ import annotations

__version__ = "0.1.0"
