"""Connecting athletes' provider accounts: the OAuth flow, token encryption, refresh,
revocation."""

from __future__ import annotations
