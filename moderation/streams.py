"""Live stream sessions: a window over recent segments, a per-rule reminder cooldown, expiry.

The pure core is `check_segment(moderator, window, text, ...) -> (SegmentResult, StreamWindow)`:
it joins the window's earlier segments with the new one, checks the joined text once, and keeps
only what ends inside the new segment, so a violation said across two or three ASR segments
(`加我薇` | `信号是…`) is found once, with offsets into the new segment. The live service and the
batch audit share it; the stores below only decide where a `StreamWindow` lives between calls
(process memory, or Redis for several workers) and serialize access per stream.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from moderation.decide import decide
from moderation.engine import CheckItem
from moderation.match import sound_alike
from moderation.types import Hit, Kind, Layer, ProductCategory, Result

if TYPE_CHECKING:  # the engine is only passed in; streams never builds one
    from moderation.engine import Moderator
    from moderation.ruleset.compile import CompiledRuleset

T = TypeVar("T")

# Earlier segments contribute at most this many trailing characters: a violation split across
# segments needs only the tail of what came before (the longest phrases, a handle read out with
# its lead-in, are under 30 characters), and every extra character is paid for by the rule layer
# and, in model tokens, by the classifier on every segment.
CONTEXT_CHARS = 48
# The model reads less of it: a claim or contact split across segments is whole within a short
# tail, and each extra character costs model time on every segment (48 + a segment spills over
# the model's 62-character window into a second one).
MODEL_CONTEXT_CHARS = 16


@dataclass(frozen=True, slots=True)
class StreamWindow:
    """What a stream remembers between segments; small and JSON-serializable (Redis stores it).

    `offset` is the stream-wide character offset of `segments[0]`; `reported` holds the
    (rule, start, end) spans already reported, in stream-wide offsets, while they are in the
    window; `reminded` maps a rule to when its reminder was last sent.
    """

    segments: tuple[str, ...] = ()
    offset: int = 0
    reported: tuple[tuple[str, int, int], ...] = ()
    reminded: tuple[tuple[str, float], ...] = ()
    count: int = 0
    updated_at: float = 0.0

    @property
    def end_offset(self) -> int:
        return self.offset + sum(len(s) for s in self.segments)

    def to_json(self) -> str:
        return json.dumps(
            {
                "segments": list(self.segments),
                "offset": self.offset,
                "reported": [list(r) for r in self.reported],
                "reminded": [list(r) for r in self.reminded],
                "count": self.count,
                "updated_at": self.updated_at,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> StreamWindow:
        data = json.loads(raw)
        return cls(
            segments=tuple(data["segments"]),
            offset=int(data["offset"]),
            reported=tuple((str(r), int(s), int(e)) for r, s, e in data["reported"]),
            reminded=tuple((str(r), float(t)) for r, t in data["reminded"]),
            count=int(data["count"]),
            updated_at=float(data["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """The result for one segment, plus what only a stream knows.

    `earlier[i]` is how many characters before this segment `result.hits[i]` began (0: it began
    here; its `start` is then clipped to 0 and its `text` holds the whole violating words).
    `suppressed` names the rules whose reminders the cooldown held back (their hits remain).
    """

    result: Result
    earlier: tuple[int, ...]
    suppressed: tuple[str, ...]
    index: int  # 1-based number of this segment in the stream
    start: float | None = None
    end: float | None = None
    # (rule, start, end), stream-wide: violations already reported whose words this segment
    # extends. Not hits again (found once), but an audit widens its finding to them.
    grown: tuple[tuple[str, int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict()
        for hit, before in zip(out["hits"], self.earlier, strict=True):
            hit["began_in_earlier_segment"] = before > 0
            hit["earlier_chars"] = before
        out["segment"] = {"index": self.index, "start": self.start, "end": self.end}
        out["suppressed_reminders"] = list(self.suppressed)
        return out


def check_segment(
    moderator: Moderator,
    window: StreamWindow | None,
    text: str,
    *,
    kind: Kind = Kind.TRANSCRIPT,
    category: ProductCategory = ProductCategory.OTHER,
    layers: frozenset[Layer] | None = None,
    id: str | None = None,
    start: float | None = None,
    end: float | None = None,
    now: float | None = None,
    window_segments: int = 3,
    cooldown_seconds: float = 60.0,
) -> tuple[SegmentResult, StreamWindow]:
    """Judge one segment in the context of the stream's recent ones; pure apart from the engine.

    `now` is the clock the cooldown runs on: wall time for a live stream, the cue's own time
    (e.g. `start`) when an archive is replayed, so an audit judges as the live service would.
    The text given to `moderator.check` depends only on the window's segments, never on earlier
    results, so a caller may collect those texts first and batch them (the audit does).
    """
    window = window or StreamWindow()
    item = segment_item(window, text, kind=kind, category=category, id=id)
    joined = moderator.check_many([item], layers=layers)[0]
    return judge_segment(
        moderator.live.current,
        window,
        text,
        joined,
        kind=kind,
        start=start,
        end=end,
        now=now,
        window_segments=window_segments,
        cooldown_seconds=cooldown_seconds,
    )


def joined_text(window: StreamWindow | None, text: str) -> str:
    """What the engine is asked about for `text`: the tail of the earlier segments, then `text`."""
    return ("".join(window.segments)[-CONTEXT_CHARS:] if window else "") + text


def segment_item(
    window: StreamWindow | None,
    text: str,
    *,
    kind: Kind = Kind.TRANSCRIPT,
    category: ProductCategory = ProductCategory.OTHER,
    id: str | None = None,
) -> CheckItem:
    """The engine's question for `text`: the joined text, of which the model reads only the last
    MODEL_CONTEXT_CHARS of earlier speech before `text`."""
    joined = joined_text(window, text)
    return CheckItem(joined, kind, category, id, model_from=max(0, len(joined) - len(text) - MODEL_CONTEXT_CHARS),
                     pauses=_pauses(window, len(joined) - len(text)))


def _pauses(window: StreamWindow | None, base: int) -> tuple[int, ...]:
    """Where each earlier segment ends inside the joined text, `base` (where `text` begins) last."""
    if window is None or not window.segments:
        return ()
    ends = list(accumulate(len(s) for s in window.segments))
    cut = ends[-1] - base  # characters of the earliest segments left out of the joined text
    return tuple(end - cut for end in ends if end - cut > 0)


def judge_segment(
    ruleset: CompiledRuleset,
    window: StreamWindow | None,
    text: str,
    joined: Result,
    *,
    kind: Kind = Kind.TRANSCRIPT,
    start: float | None = None,
    end: float | None = None,
    now: float | None = None,
    window_segments: int = 3,
    cooldown_seconds: float = 60.0,
) -> tuple[SegmentResult, StreamWindow]:
    """The second half of `check_segment`, for callers that ran the engine themselves on
    `segment_item(window, text)` (the service batches it with other requests)."""
    window = window or StreamWindow()
    now = time.time() if now is None else now
    base = len(joined_text(window, text)) - len(text)  # where `text` begins inside the joined text
    seg_offset = window.end_offset  # stream-wide offset of `text`

    # Keep what ends inside the new segment; what ends earlier was judged with its own segment.
    # The same rule over an overlapping span already reported is the same violation, grown.
    kept: list[Hit] = []
    grown: list[tuple[str, int, int]] = []
    for hit in joined.hits:
        if hit.end <= base:
            continue
        if hit.start < base and sound_alike(ruleset, hit):
            # A pause between segments ends a word: a sound-alike read across it is two words
            # heard as one (视频 | 好 → 视频号). A term as written still joins (加我微 | 信).
            continue
        span = (hit.rule, seg_offset - base + hit.start, seg_offset - base + hit.end)
        same = [r for r in window.reported if r[0] == hit.rule and r[1] < span[2] and span[1] < r[2]]
        if not same:
            kept.append(hit)
        elif span[2] > max(r[2] for r in same):
            grown.append(span)  # `加我` | `好友…`: reported once, but the words reach further
    result = _narrow(ruleset, joined, kept, kind)
    # Offsets into the new segment; a hit that began earlier is clipped to 0 and says how far back.
    earlier = tuple(max(0, base - h.start) for h in result.hits)
    hits = tuple(replace(h, start=max(0, h.start - base), end=h.end - base) for h in result.hits)
    new_spans = [(h.rule, seg_offset - base + h.start, seg_offset - base + h.end) for h in result.hits]
    result = replace(result, hits=hits)

    result, reminded, suppressed = _apply_cooldown(result, dict(window.reminded), now, cooldown_seconds)
    if any(earlier):
        carried = sorted({h.rule for h, b in zip(hits, earlier, strict=True) if b})
        result = replace(result, notes=(*result.notes, f"began in an earlier segment: {', '.join(carried)}"))

    new_window = _advance(window, text, new_spans + grown, reminded, now, window_segments, cooldown_seconds)
    return (
        SegmentResult(result, earlier, suppressed, new_window.count, start, end, tuple(grown)),
        new_window,
    )


def _narrow(ruleset: CompiledRuleset, joined: Result, kept: list[Hit], kind: Kind) -> Result:
    """The joined text's result restricted to the hits kept, still in the joined text's offsets.

    Labels and action are decided again, by the engine's own policy, from the kept hits alone:
    the joined text's action may have been driven by hits already judged in earlier segments.
    Vetoes and model-only findings were settled in the joined check, so no model output is
    passed this time.
    """
    if tuple(kept) == joined.hits:
        return joined
    decision = decide(kept, None, text="", kind=kind, ruleset=ruleset, thresholds={})
    rules = {h.rule for h in decision.hits}
    return replace(
        joined,
        hits=decision.hits,
        labels=decision.labels,
        action=decision.action,
        reminders=tuple(r for r in joined.reminders if r.rule in rules),
    )


def _apply_cooldown(
    result: Result, reminded: dict[str, float], now: float, cooldown: float
) -> tuple[Result, dict[str, float], tuple[str, ...]]:
    kept, suppressed = [], []
    for reminder in result.reminders:
        last = reminded.get(reminder.rule)
        if last is not None and now - last < cooldown:
            suppressed.append(reminder.rule)
        else:
            kept.append(reminder)
            reminded[reminder.rule] = now
    if suppressed:
        result = replace(result, reminders=tuple(kept))
    return result, reminded, tuple(suppressed)


def _advance(
    window: StreamWindow,
    text: str,
    new_spans: list[tuple[str, int, int]],
    reminded: dict[str, float],
    now: float,
    window_segments: int,
    cooldown: float,
) -> StreamWindow:
    segments = (*window.segments, text)
    offset = window.offset
    # Keep window_segments - 1 earlier segments for the next call.
    while len(segments) > max(window_segments - 1, 0):
        offset += len(segments[0])
        segments = segments[1:]
    reported = tuple(r for r in (*window.reported, *new_spans) if r[2] > offset)
    live = tuple((rule, t) for rule, t in reminded.items() if now - t < cooldown)
    return StreamWindow(segments, offset, reported, live, window.count + 1, now)


# -- where windows live between segments ---------------------------------------------------------


class StreamStore(Protocol):
    """Serializes access per stream and keeps its window; `update` runs `step` under that guard."""

    def update(self, stream_id: str, step: Callable[[StreamWindow | None], tuple[T, StreamWindow]]) -> T: ...

    def end(self, stream_id: str) -> bool: ...

    def active(self) -> int: ...

    def close(self) -> None: ...


@dataclass
class MemoryStreamStore:
    """Windows in process memory: LRU-bounded, idle sessions expire, striped per-stream locks.

    Locks are striped (a fixed array indexed by a hash of the stream id) so that tens of
    thousands of streams need no per-stream lock objects whose lifetime would race with
    eviction; two streams sharing a stripe only wait for each other, never see each other.
    """

    max_sessions: int = 50_000
    idle_seconds: float = 600.0
    stripes: int = 256
    clock: Callable[[], float] = time.monotonic
    _windows: OrderedDict[str, tuple[float, StreamWindow]] = field(default_factory=OrderedDict)
    _map_lock: threading.Lock = field(default_factory=threading.Lock)
    _locks: list[threading.Lock] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._locks = [threading.Lock() for _ in range(self.stripes)]
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    def _stripe(self, stream_id: str) -> int:
        return zlib.crc32(stream_id.encode("utf-8", "surrogatepass")) % self.stripes

    def _lock(self, stream_id: str) -> threading.Lock:
        return self._locks[self._stripe(stream_id)]

    def async_lock(self, stream_id: str) -> asyncio.Lock:
        """The stripe's lock for coroutines of the running loop (the service's path, `put` after).

        A store is driven either from threads (`update`) or from one event loop (`async_lock`,
        `get`, `put`), not both: the two kinds of lock do not exclude each other.
        """
        loop = asyncio.get_running_loop()
        locks = self._async_locks.get(loop)
        if locks is None:
            locks = self._async_locks[loop] = [asyncio.Lock() for _ in range(self.stripes)]
        return locks[self._stripe(stream_id)]

    def put(self, stream_id: str, window: StreamWindow) -> None:
        with self._map_lock:
            self._windows[stream_id] = (self.clock(), window)
            self._windows.move_to_end(stream_id)
            while len(self._windows) > self.max_sessions:
                self._windows.popitem(last=False)

    def update(self, stream_id: str, step: Callable[[StreamWindow | None], tuple[T, StreamWindow]]) -> T:
        with self._lock(stream_id):
            with self._map_lock:
                self._expire()
                entry = self._windows.get(stream_id)
            value, window = step(entry[1] if entry else None)
            self.put(stream_id, window)
            return value

    def get(self, stream_id: str) -> StreamWindow | None:
        with self._map_lock:
            self._expire()
            entry = self._windows.get(stream_id)
        return entry[1] if entry else None

    def end(self, stream_id: str) -> bool:
        with self._lock(stream_id), self._map_lock:
            return self._windows.pop(stream_id, None) is not None

    def active(self) -> int:
        with self._map_lock:
            self._expire()
            return len(self._windows)

    def close(self) -> None:
        with self._map_lock:
            self._windows.clear()

    def _expire(self) -> None:
        # The OrderedDict is in last-use order, so the idle ones are at its head.
        horizon = self.clock() - self.idle_seconds
        while self._windows:
            first = next(iter(self._windows.values()))
            if first[0] > horizon:
                break
            self._windows.popitem(last=False)


class RedisStreamStore:
    """Windows in Redis, so any worker may take any segment of a stream.

    Each stream is one small JSON value with a TTL of the idle time; updates are optimistic
    (WATCH the key, run `step`, MULTI/EXEC the new value, retry when another worker wrote first),
    so `step` must be free of side effects: it may run more than once. A sorted set of last-use
    times counts active streams and bounds them (oldest evicted first).
    """

    def __init__(
        self,
        url: str,
        *,
        max_sessions: int = 50_000,
        idle_seconds: float = 600.0,
        prefix: str = "moderation:",
        retries: int = 50,
    ) -> None:
        import redis  # only where Redis is configured

        self._redis = redis.Redis.from_url(url)
        self._watch_error = redis.WatchError
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.prefix = prefix
        self.retries = retries
        self._index = prefix + "active-streams"  # a sorted set: stream id → last use

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def _key(self, stream_id: str) -> str:
        return f"{self.prefix}stream:{stream_id}"

    def update(self, stream_id: str, step: Callable[[StreamWindow | None], tuple[T, StreamWindow]]) -> T:
        key = self._key(stream_id)
        ttl_ms = max(1, int(self.idle_seconds * 1000))
        for _ in range(self.retries):
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    value, window = step(StreamWindow.from_json(raw) if raw else None)
                    now = time.time()
                    pipe.multi()
                    pipe.set(key, window.to_json(), px=ttl_ms)
                    pipe.zadd(self._index, {stream_id: now})
                    pipe.execute()
                except self._watch_error:
                    continue
            self._bound(now)
            return value
        raise StreamBusyError(f"stream {stream_id!r}: too many concurrent writers, try again")

    def get(self, stream_id: str) -> StreamWindow | None:
        raw = self._redis.get(self._key(stream_id))
        return StreamWindow.from_json(raw) if raw else None

    def _bound(self, now: float) -> None:
        self._redis.zremrangebyscore(self._index, "-inf", now - self.idle_seconds)
        excess = self._redis.zcard(self._index) - self.max_sessions
        if excess > 0:
            oldest = [
                m.decode() if isinstance(m, bytes) else str(m)
                for m in self._redis.zrange(self._index, 0, excess - 1)
            ]
            if oldest:
                self._redis.delete(*(self._key(s) for s in oldest))
                self._redis.zrem(self._index, *oldest)

    def end(self, stream_id: str) -> bool:
        with self._redis.pipeline() as pipe:
            pipe.delete(self._key(stream_id))
            pipe.zrem(self._index, stream_id)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def active(self) -> int:
        return int(self._redis.zcount(self._index, time.time() - self.idle_seconds, "+inf"))

    def clear(self) -> None:
        """Drop every stream under this prefix (tests, and operators resetting a deployment)."""
        keys = list(self._redis.scan_iter(match=self.prefix + "*"))
        if keys:
            self._redis.delete(*keys)

    def close(self) -> None:
        self._redis.close()


class StreamBusyError(RuntimeError):
    """Too many workers wrote one stream at once; the caller may retry (HTTP 409)."""


def make_store(
    *,
    redis_url: str | None,
    max_sessions: int,
    idle_seconds: float,
    prefix: str = "moderation:",
) -> StreamStore:
    if redis_url:
        return RedisStreamStore(
            redis_url, max_sessions=max_sessions, idle_seconds=idle_seconds, prefix=prefix
        )
    return MemoryStreamStore(max_sessions=max_sessions, idle_seconds=idle_seconds)


class StreamSessions:
    """The live service's view: one call per segment, state in the configured store."""

    def __init__(
        self,
        moderator: Moderator,
        store: StreamStore,
        *,
        window_segments: int = 3,
        cooldown_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.moderator = moderator
        self.store = store
        self.window_segments = window_segments
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock

    def segment(
        self,
        stream_id: str,
        text: str,
        *,
        kind: Kind = Kind.TRANSCRIPT,
        category: ProductCategory = ProductCategory.OTHER,
        layers: frozenset[Layer] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> SegmentResult:
        def step(window: StreamWindow | None) -> tuple[SegmentResult, StreamWindow]:
            return check_segment(
                self.moderator,
                window,
                text,
                kind=kind,
                category=category,
                layers=layers,
                id=stream_id,
                start=start,
                end=end,
                now=self.clock(),
                window_segments=self.window_segments,
                cooldown_seconds=self.cooldown_seconds,
            )

        return self.store.update(stream_id, step)

    @property
    def runs_on_the_loop(self) -> bool:
        """True when `segment_async` can serve: the state is in this process's memory."""
        return isinstance(self.store, MemoryStreamStore)

    async def segment_async(
        self,
        stream_id: str,
        text: str,
        *,
        check: Callable[..., Awaitable[Result]],
        kind: Kind = Kind.TRANSCRIPT,
        category: ProductCategory = ProductCategory.OTHER,
        layers: frozenset[Layer] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> SegmentResult:
        """`segment` for an event loop over the memory store: `check(CheckItem, layers=…)` is
        awaited (the service's batcher), so no thread sits blocked on a stream's lock."""
        store = self.store
        assert isinstance(store, MemoryStreamStore), "Redis-backed sessions run `segment` in a thread"
        async with store.async_lock(stream_id):
            window = store.get(stream_id)
            item = segment_item(window, text, kind=kind, category=category, id=stream_id)
            joined = await check(item, layers=layers)
            outcome, window = judge_segment(
                self.moderator.live.current,
                window,
                text,
                joined,
                kind=kind,
                start=start,
                end=end,
                now=self.clock(),
                window_segments=self.window_segments,
                cooldown_seconds=self.cooldown_seconds,
            )
            store.put(stream_id, window)
        return outcome

    def end(self, stream_id: str) -> bool:
        return self.store.end(stream_id)

    def active(self) -> int:
        return self.store.active()
