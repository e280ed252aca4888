"""Suite-wide: every app and command built by a test writes its store under a temporary data dir,
so no test scores with rules left in the checkout's own `data/` by a developer."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    if "MODERATION_DATA_DIR" not in os.environ:
        os.environ["MODERATION_DATA_DIR"] = tempfile.mkdtemp(prefix="moderation-test-data-")
