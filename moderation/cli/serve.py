"""`moderation serve`: uvicorn with the app factory; several workers share stream state through Redis."""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moderation.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

log = logging.getLogger("moderation.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve the HTTP API (OpenAPI at /docs)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--db", default=None, metavar="URL", help="rule store: SQLite file by default, PostgreSQL by URL"
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--rules-only", action="store_true", help="serve without the classifier (readyz says so)")
    p.add_argument(
        "--redis-url",
        default=None,
        metavar="URL",
        help="keep live stream state in Redis (needed when several workers or machines share streams)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on shutdown, wait this long for in-flight requests to finish (default 30)",
    )
    p.set_defaults(func=run)


def settings_env(args: argparse.Namespace) -> dict[str, str]:
    """The MODERATION_* variables that carry the command line into every worker's create_app()."""
    env: dict[str, str] = {}
    if args.db:
        env["MODERATION_DB_URL"] = args.db
    if args.redis_url:
        env["MODERATION_REDIS_URL"] = args.redis_url
    if args.rules_only:
        env["MODERATION_RULES_ONLY"] = "true"
    return env


def _missing_model_files(settings: Settings) -> list[str]:
    if settings.rules_only:
        return []
    return [
        name
        for name in ("model.onnx", "tokenizer.json", "model.json")
        if not (settings.model_dir / name).exists()
    ]


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from moderation.cli.main import CliError
    from moderation.settings import Settings

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port} is not a port number")
    os.environ.update(settings_env(args))
    try:
        settings = Settings()  # validate here, once, with a readable error, before any worker starts
    except ValidationError as exc:
        raise CliError(f"invalid settings: {exc}") from None
    missing = _missing_model_files(settings)
    if missing:
        # Each worker would die on it at startup with a traceback; say it once, plainly.
        raise CliError(
            f"the model is not where settings say ({settings.model_dir}: no {', '.join(missing)}); "
            "run `make model`, set MODERATION_MODEL_DIR, or serve with --rules-only"
        )
    if args.workers > 1:
        # Workers are separate processes: /metrics must sum their counters from shared files.
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="moderation-metrics-"))

    import uvicorn

    from moderation.api.logs import log_config

    logging.config.dictConfig(log_config(args.log_level))
    if args.workers > 1 and not settings.redis_url:
        log.warning(
            "several workers without --redis-url: each keeps its own stream sessions, so a stream's "
            "segments must always reach the same worker"
        )
    uvicorn.run(
        "moderation.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(args.log_level),
        access_log=False,  # our middleware logs each request with its route and latency
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    return 0
