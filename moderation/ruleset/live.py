"""The one reference to the ruleset in service, swapped atomically when a new version is published."""

from __future__ import annotations

import threading

from moderation.ruleset.compile import CompiledRuleset


class LiveRuleset:
    """Readers take `.current` once per request and use that object throughout, so a swap in the
    middle of a request never mixes two versions."""

    def __init__(self, compiled: CompiledRuleset) -> None:
        self._current = compiled
        self._lock = threading.Lock()

    @property
    def current(self) -> CompiledRuleset:
        return self._current

    def swap(self, new: CompiledRuleset) -> CompiledRuleset:
        """Install `new`; returns the ruleset it replaced."""
        with self._lock:
            old, self._current = self._current, new
        return old
