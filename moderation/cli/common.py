"""What several commands share: the --layers option and building the moderator for it."""

from __future__ import annotations

import argparse

from moderation.engine import Moderator, build_moderator
from moderation.settings import Settings
from moderation.types import Layer


def add_layers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layers",
        default=None,
        help="comma-separated layers to run: rules, model (default: both)",
    )


def parse_layers(value: str | None) -> frozenset[Layer] | None:
    from moderation.cli.main import CliError

    if value is None:
        return None
    try:
        return Layer.parse(value)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def moderator_for(layers: frozenset[Layer] | None) -> Moderator:
    """Rules-only runs never load the model, so they work even before one is shipped."""
    from moderation.cli.main import CliError

    if layers == frozenset({Layer.RULES}):
        return build_moderator(Settings(rules_only=True))
    from moderation.classifier import ModelLoadError

    try:
        return build_moderator(Settings())
    except ModelLoadError as exc:
        raise CliError(f"{exc} (run `make model`, or pass --layers rules)") from None
