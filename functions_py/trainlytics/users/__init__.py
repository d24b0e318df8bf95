"""Supabase Auth users: the admin API client, or rows written as Supabase Auth does."""

from __future__ import annotations
