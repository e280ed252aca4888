"""One router per resource, included explicitly by `moderation.api.app`."""
