"""GET /review: the reviewers' page. Plain HTML, CSS and a little JavaScript from the package;
no build step, nothing from a CDN. Everything a reviewer typed reaches the page as JSON and is
put in with textContent, so a term `<script>` shows as text."""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from moderation.types import Label, ProductCategory, RuleCategory

router = APIRouter(tags=["review"], include_in_schema=False)

ASSETS = Path(__file__).resolve().parent.parent / "review"
_STATIC = {"review.js": "text/javascript", "review.css": "text/css"}


@cache
def _page() -> str:
    # The option lists come from the enums, rendered (and escaped) here on the server.
    def options(values: list[str]) -> str:
        return "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)

    html = (ASSETS / "review.html").read_text(encoding="utf-8")
    for name, values in (
        ("label_options", [label.value for label in Label]),
        ("category_options", [c.value for c in RuleCategory]),
        ("product_options", [c.value for c in ProductCategory]),
    ):
        html = html.replace("{{" + name + "}}", options(values))
    return html


@router.get("/review", response_class=HTMLResponse)
def review_page() -> HTMLResponse:
    return HTMLResponse(
        _page(),
        headers={
            # Only our own script and style: an injected <script> could not run even if shown raw.
            "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
            "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get("/review/static/{name}")
def review_asset(name: str) -> FileResponse:
    from moderation.api.errors import ApiError

    if name not in _STATIC:
        raise ApiError(404, "not_found", f"no asset {name!r}")
    return FileResponse(ASSETS / name, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})
