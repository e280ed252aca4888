"""Compliance moderation for Chinese live-stream commerce: efficacy claims and off-platform diversion."""

from moderation.types import Action, Hit, Kind, Label, Layer, ProductCategory, Reminder, Result, Scores

__all__ = [
    "Action",
    "Hit",
    "Kind",
    "Label",
    "Layer",
    "ProductCategory",
    "Reminder",
    "Result",
    "Scores",
    "build_moderator",
]


def build_moderator(settings=None):  # type: ignore[no-untyped-def]
    """Wire the shipped (or configured) rules and model into a Moderator; the slow part."""
    from moderation.engine import build_moderator as _build

    return _build(settings)
