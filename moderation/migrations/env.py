"""Alembic environment: online migrations only, on the engine handed over in config.attributes."""

from __future__ import annotations

from alembic import context

from moderation.ruleset.store import Base

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
