"""The HTTP app (FastAPI) and the verification of Supabase access tokens."""

from __future__ import annotations
