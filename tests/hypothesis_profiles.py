"""Hypothesis profiles: ``quick`` for a developer's run, the full budgets in CI.

``HYPOTHESIS_PROFILE`` selects one (``.ci/run`` sets ``ci``); unset, it is ``ci`` where Hypothesis
detects a CI environment and ``quick`` elsewhere.

- ``quick``: a fifth of every example budget (20 instead of 100 by default).
- ``full``: Hypothesis's own defaults (100 examples, random seeds).
- ``ci``: the full budgets with Hypothesis's CI settings (derandomised, no example database, no
  deadline, the failing example's blob printed), as CI ran before the profiles existed.

A property test that sets its own budget states the full one through :func:`examples`, so each
profile scales it like the default.
"""

from __future__ import annotations

import os

from hypothesis import settings

__all__ = ["FULL_EXAMPLES", "PROFILE_ENV", "examples", "profile_name"]

PROFILE_ENV = "HYPOTHESIS_PROFILE"
FULL_EXAMPLES = 100  # Hypothesis's default max_examples: the budget a full profile runs

# Hypothesis itself loads its "ci" profile where it detects a CI environment (CI=... etc.).
_DETECTED = "ci" if settings.get_current_profile_name() == "ci" else "quick"

settings.register_profile("quick", max_examples=FULL_EXAMPLES // 5)
settings.register_profile("full", max_examples=FULL_EXAMPLES)
settings.register_profile("ci", settings.get_profile("ci"), max_examples=FULL_EXAMPLES)


def profile_name() -> str:
    return os.environ.get(PROFILE_ENV) or _DETECTED


settings.load_profile(profile_name())


def examples(full: int) -> int:
    """A property test's example budget: ``full`` under the full profiles, scaled (at least 5)
    under ``quick``."""
    return max(5, full * settings().max_examples // FULL_EXAMPLES)
