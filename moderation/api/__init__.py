"""The HTTP service: `create_app(settings)` builds a FastAPI app around one Moderator."""

from moderation.api.app import create_app

__all__ = ["create_app"]
