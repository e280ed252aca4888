"""Request bodies (`*Create`) and documented response shapes (`*Public`) of the HTTP API.

Limits that come from settings (text length, batch size) are checked by `check_text` and
`check_batch` in the handlers' dependencies, since pydantic models are built once per process.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from moderation.api.errors import ApiError
from moderation.types import Kind, Layer, ProductCategory


def _encodable(value: str) -> str:
    # JSON may carry lone surrogates (\ud800); they are not text and cannot be written back out.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate: not valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]
Identifier = Annotated[str, Field(max_length=256), AfterValidator(_encodable)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _comma_separated(value: object) -> object:
    # `"rules,model"`, as the command line takes it, or a list.
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else value


Layers = Annotated[
    Annotated[list[Layer], Field(min_length=1)] | None,
    BeforeValidator(_comma_separated),
    Field(description='layers to run: ["rules", "model"] or "rules,model" (default: every layer loaded)'),
]


class _Body(BaseModel):
    # An unknown field is more often a typo (`categroy`) than an extension: say so.
    model_config = ConfigDict(extra="forbid")


class ModerateCreate(_Body):
    text: Text = Field(description="the ASR segment or product copy, as said or written")
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER
    id: Identifier | None = None
    layers: Layers = None


class BatchItemCreate(_Body):
    text: Text
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER
    id: Identifier | None = None


class BatchCreate(_Body):
    items: list[BatchItemCreate]
    layers: Layers = None


class SegmentCreate(_Body):
    text: Text = Field(description="one ASR segment of the stream")
    start: Seconds | None = Field(default=None, description="segment start, seconds into the stream")
    end: Seconds | None = Field(default=None, description="segment end, seconds into the stream")
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER
    layers: Layers = None


class HitPublic(BaseModel):
    label: str
    category: str | None
    rule: str
    start: int
    end: int
    text: str
    source: str
    score: float
    severity: str
    matched: str


class ReminderPublic(BaseModel):
    rule: str
    message: str
    suggestion: str
    basis: str


class ResultPublic(BaseModel):
    id: str | None
    labels: list[str]
    action: str = Field(description="pass, remind, review or block")
    hits: list[HitPublic]
    scores: dict[str, float | None]
    reminders: list[ReminderPublic]
    ruleset_version: str
    model_version: str | None
    layers: list[str]
    notes: list[str]


class BatchPublic(BaseModel):
    results: list[ResultPublic]


class SegmentHitPublic(HitPublic):
    began_in_earlier_segment: bool
    earlier_chars: int = Field(description="how many characters before this segment the hit began")


class SegmentInfo(BaseModel):
    index: int
    start: float | None
    end: float | None


class SegmentPublic(ResultPublic):
    hits: list[SegmentHitPublic]  # type: ignore[assignment]
    segment: SegmentInfo
    suppressed_reminders: list[str] = Field(description="rules whose reminder the cooldown held back")


class StreamEndedPublic(BaseModel):
    stream_id: str
    ended: bool = Field(description="false when no session was open (never started, or expired)")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorPublic(BaseModel):
    error: ErrorDetail


def check_text(text: str, *, limit: int, where: str = "text") -> None:
    if not text.strip():
        raise ApiError(422, "empty_text", f"{where} is empty")
    if len(text) > limit:
        raise ApiError(422, "text_too_long", f"{where} has {len(text)} characters; the limit is {limit}")


def check_segment_times(start: float | None, end: float | None) -> None:
    if start is not None and end is not None and end < start:
        raise ApiError(422, "invalid_request", f"end ({end}) is before start ({start})")


def layer_set(layers: list[Layer] | None) -> frozenset[Layer] | None:
    return None if layers is None else frozenset(layers)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "malformed JSON or invalid UTF-8"},
    413: {"model": ErrorPublic, "description": "body larger than the configured limit"},
    422: {"model": ErrorPublic, "description": "a field is missing, of the wrong type, empty or too long"},
}
