"""Alembic migrations for the rule store, run from code on start (`upgrade head`), no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py uses this engine instead of reading a URL from a file.
    config.attributes["engine"] = engine
    return config


def upgrade_head(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")
