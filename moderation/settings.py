"""Validated settings from arguments and MODERATION_* environment variables; built, never imported."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped(in_wheel: str, in_checkout: str) -> Path:
    """Where a shipped asset lies: inside an installed wheel, or beside the package in a checkout.

    The wheel build copies `rules/` and `models/shipped/` into the package (pyproject's
    force-include); an editable install reads them from the checkout instead.
    """
    packaged = PACKAGE_DIR / in_wheel
    return packaged if packaged.exists() else PACKAGE_DIR.parent / in_checkout


DEFAULT_RULES_DIR = _shipped("packs", "rules")
DEFAULT_MODEL_DIR = _shipped("model", "models/shipped")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODERATION_", extra="forbid")

    rules_dir: Path = DEFAULT_RULES_DIR
    model_dir: Path = DEFAULT_MODEL_DIR
    # Serve without the classifier; every result and /readyz then say so.
    rules_only: bool = False
    model_threads: int = Field(default=1, ge=1, le=64)
    # Concurrent checks are judged together: at most this many per engine call, on this many
    # threads (moderation.api.batching). Small batches let the model and the event loop overlap.
    batch_max_items: int = Field(default=64, ge=1, le=1024)
    batch_threads: int = Field(default=1, ge=1, le=64)
    # How long a thread may hold the GIL while another waits (Python's default: 5 ms). The event
    # loop and the batcher share one interpreter; each time the batcher comes back from the
    # encoder (which runs without the GIL) it waits up to this long for the loop to let go, so the
    # default leaves the encoder idle. Unset: 0.5 ms with the model (27 % more requests a second),
    # Python's 5 ms without it (rules only, where a short interval only adds switches: 51 % of the
    # trivial endpoint at 5 ms, 41 % at 0.5 ms). docs/benchmarks.md.
    gil_switch_ms: float | None = Field(default=None, gt=0, le=100)

    data_dir: Path = Path("data")
    db_url: str | None = None  # default: sqlite file in data_dir
    redis_url: str | None = None  # default: stream state in process memory

    stream_window_segments: int = Field(default=3, ge=1, le=20)
    stream_idle_seconds: float = Field(default=600.0, gt=0)
    stream_max_sessions: int = Field(default=50_000, ge=1)
    reminder_cooldown_seconds: float = Field(default=60.0, ge=0)

    max_text_chars: int = Field(default=5_000, ge=1)
    max_batch_items: int = Field(default=256, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    reload_poll_seconds: float = Field(default=0.5, gt=0)

    @field_validator("db_url")
    @classmethod
    def _plain_postgres_urls_work(cls, value: str | None) -> str | None:
        # SQLAlchemy wants a driver name; users write plain postgresql:// URLs.
        if value and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    def resolved_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'moderation.db').resolve()}"
