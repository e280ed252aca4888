"""Live stream sessions: the window across segments, the reminder cooldown, expiry, bounds, stores."""

from __future__ import annotations

import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from moderation.engine import Moderator, build_moderator
from moderation.settings import Settings
from moderation.streams import (
    MemoryStreamStore,
    RedisStreamStore,
    SegmentResult,
    StreamSessions,
    StreamWindow,
    check_segment,
)
from moderation.types import Kind, Label, ProductCategory

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    # Rules only: these tests are about the window, and must not depend on the classifier.
    return build_moderator(Settings(rules_only=True))


@pytest.fixture(scope="module")
def both_layers() -> Moderator:
    # A sound-alike of a term counts only where the classifier agrees.
    return build_moderator()


def replay(moderator: Moderator, segments: list[str], **options) -> list[SegmentResult]:
    """Feed segments one by one, one second apart, as a live stream would."""
    window: StreamWindow | None = None
    results = []
    for i, text in enumerate(segments):
        result, window = check_segment(moderator, window, text, now=1000.0 + i, **options)
        results.append(result)
    return results


def findings(result: SegmentResult) -> list[tuple[str, int, int, str, int]]:
    return [
        (h.label.value, h.start, h.end, h.text, before)
        for h, before in zip(result.result.hits, result.earlier, strict=True)
    ]


# (segments, index of the segment where it is found, label, start, end in that segment,
#  the whole violating words, characters it began before that segment)
CROSS_SEGMENT = [
    # a cure claim split by the ASR
    (["用了能根", "治痘痘"], 1, "efficacy", 0, 1, "根治", 1),
    # a superlative said over three segments
    (["这款精华", "全网最", "低价"], 2, "efficacy", 0, 2, "全网最低价", 3),
    # an endorsement split in two
    (["专家", "推荐的牙膏"], 1, "efficacy", 0, 2, "专家推荐", 2),
    # a WeChat handle said over three segments
    (["加", "我微", "信"], 2, "diversion", 0, 1, "加我微信", 3),
    # a phone number read out in pieces
    (["我的电话是138", "0013", "8000"], 2, "diversion", 0, 4, "13800138000", 7),
]


@pytest.mark.parametrize(("segments", "index", "label", "start", "end", "words", "before"), CROSS_SEGMENT)
def test_violation_across_segments_is_found_in_the_segment_that_completes_it(
    moderator, segments, index, label, start, end, words, before
):
    results = replay(moderator, segments)
    assert (label, start, end, words, before) in findings(results[index])
    later = [f for r in results[index + 1 :] for f in findings(r)]
    assert not any(f[3] == words for f in later)
    assert any("earlier segment" in note for note in results[index].result.notes)
    assert results[index].result.action.value != "pass"


def test_a_hit_inside_one_segment_has_offsets_into_that_segment(moderator):
    results = replay(moderator, ["大家好", "这款面霜是全网最好的"])
    (hit,) = results[1].result.hits
    assert (hit.start, hit.end) == (7, 9)
    assert "这款面霜是全网最好的"[hit.start : hit.end] == hit.text == "最好"
    assert results[1].earlier == (0,)


def test_a_violation_is_reported_once_not_again_with_the_next_segments(moderator):
    results = replay(moderator, ["用了能根治痘痘", "真的很好用", "大家快来买"])
    assert [len(r.result.hits) for r in results] == [1, 0, 0]
    assert [r.result.action.value for r in results[1:]] == ["pass", "pass"]


@pytest.mark.parametrize(
    ("segments", "diversion_in"),
    [
        (["我拍了个视频", "好 大家看一下"], None),  # 视频|好 is not 视频号 heard across a pause
        (["来我视频号", "看回放"], 0),  # the term as written, inside one segment
        (["想看的去我视频好", "里看回放"], 0),  # the ASR's sound-alike, inside one segment
        (["想看回放的去我视频", "号里看"], 1),  # the term as written, said across the pause
    ],
)
def test_a_sound_alike_does_not_join_words_across_a_pause(moderator, segments, diversion_in):
    results = replay(moderator, segments)
    flagged = [i for i, r in enumerate(results) if Label.DIVERSION in r.result.labels]
    assert flagged == ([] if diversion_in is None else [diversion_in])


@pytest.mark.parametrize(
    ("segments", "flagged_in"),
    [
        # 没有 in the viewer's question does not negate the answer in the next segment
        (["有宝宝问 还有没有赠品", "淘宝搜我们店名就有"], [1]),
        (["这款没有香精", "能根治湿疹"], [1]),
        # but a segment that ends on its negator refuses what the next one begins with
        (["这个可不能", "根治鼻炎哈"], []),
    ],
)
def test_negation_and_questions_stop_at_the_pause_between_segments(moderator, segments, flagged_in):
    results = replay(moderator, segments)
    assert [i for i, r in enumerate(results) if r.result.labels] == flagged_in


@pytest.mark.parametrize(
    ("segments", "efficacy_in"),
    [
        (["这瓶面霜能曲班", "晚上涂"], 0),  # 祛斑 heard as 曲班, and the model agrees
        (["这瓶面霜能曲", "班 晚上涂"], None),  # 曲|班 across a pause is two words, not 祛斑 misheard
        (["这瓶面霜能祛", "斑 晚上涂"], 1),  # the term as written, said across the pause
    ],
)
def test_a_claim_heard_in_other_characters_stays_inside_one_segment(both_layers, segments, efficacy_in):
    results = replay(both_layers, segments, category=ProductCategory.COSMETICS)
    flagged = [i for i, r in enumerate(results) if Label.EFFICACY in r.result.labels]
    assert flagged == ([] if efficacy_in is None else [efficacy_in])


@pytest.mark.parametrize(
    ("segments", "grown"),
    [
        # 加我 is a finding on its own; the next segment makes it 加我好友, the same rule's words
        (["要优惠的加我", "好友 送你小样"], ("private_deal.add_first", 4, 8)),
        (["要优惠的加我", "送你小样"], None),  # nothing more is said: nothing grows
    ],
)
def test_words_a_reported_violation_grows_into_are_recorded_not_reported_again(moderator, segments, grown):
    first, second = replay(moderator, segments)
    assert first.result.hits
    assert second.result.hits == () and second.result.reminders == ()
    assert second.grown == ((grown,) if grown else ())


@pytest.mark.parametrize(
    "segments",
    [
        ["今天天气不错", "大家好"],
        ["这件衣服", "很好看"],
        ["第一次", "来直播间的朋友"],
        [""],
    ],
)
def test_clean_speech_passes(moderator, segments):
    for r in replay(moderator, segments):
        assert r.result.hits == ()
        assert r.result.action.value == "pass"


def test_window_of_one_segment_sees_no_context(moderator):
    results = replay(moderator, ["用了能根", "治痘痘"], window_segments=1)
    assert results[1].result.hits == ()


def test_product_category_is_passed_through(moderator):
    (result,) = replay(moderator, ["戴上这个能降血压"], category=ProductCategory.MEDICAL_DEVICE)
    plain = moderator.check("戴上这个能降血压", kind=Kind.TRANSCRIPT, category=ProductCategory.MEDICAL_DEVICE)
    assert [h.rule for h in result.result.hits] == [h.rule for h in plain.hits]


# -- reminder cooldown ---------------------------------------------------------------------------


def test_same_rule_within_cooldown_is_reported_but_not_reminded_again(moderator):
    window = None
    first, window = check_segment(moderator, window, "这是全网最好的", now=0.0, cooldown_seconds=60)
    second, window = check_segment(moderator, window, "真的最好", now=30.0, cooldown_seconds=60)
    third, window = check_segment(moderator, window, "还是这款最好", now=95.0, cooldown_seconds=60)
    assert [r.rule for r in first.result.reminders] == ["absolute_terms.superlative"]
    assert second.result.hits and second.result.reminders == ()
    assert second.suppressed == ("absolute_terms.superlative",)
    assert [r.rule for r in third.result.reminders] == ["absolute_terms.superlative"]  # cooldown over


def test_cooldown_is_per_rule(moderator):
    window = None
    _, window = check_segment(moderator, window, "这是全网最好的", now=0.0)
    other, window = check_segment(moderator, window, "用了能根治痘痘", now=1.0)
    assert [r.rule for r in other.result.reminders] == ["medical.cure"]
    assert other.suppressed == ()


def test_zero_cooldown_reminds_every_time(moderator):
    results = replay(moderator, ["最好", "最好", "最好"], cooldown_seconds=0)
    assert all(len(r.result.reminders) == 1 for r in results)


def test_window_survives_json(moderator):
    _, window = check_segment(moderator, None, "加我薇", now=5.0)
    assert StreamWindow.from_json(window.to_json()) == window
    assert "加我薇" in window.to_json()  # readable in redis-cli


# -- stores: memory ------------------------------------------------------------------------------


def test_sessions_keep_streams_apart(moderator):
    sessions = StreamSessions(moderator, MemoryStreamStore())
    sessions.segment("a", "用了能根")
    sessions.segment("b", "治痘痘")  # no context in b: nothing
    assert sessions.segment("b", "很好").result.hits == ()
    assert [h.text for h in sessions.segment("a", "治痘痘").result.hits] == ["根治"]
    assert sessions.active() == 2
    assert sessions.end("a") is True and sessions.end("a") is False
    assert sessions.active() == 1


def test_memory_store_is_bounded_lru():
    store = MemoryStreamStore(max_sessions=3)
    for name in ["s1", "s2", "s3"]:
        store.update(name, lambda w: (None, StreamWindow(count=1)))
    store.update("s1", lambda w: (None, StreamWindow(count=2)))  # s1 is now the most recent
    store.update("s4", lambda w: (None, StreamWindow(count=1)))
    assert store.active() == 3
    assert store.get("s2") is None  # least recently used went first
    assert store.get("s1").count == 2


def test_idle_sessions_expire():
    now = [0.0]
    store = MemoryStreamStore(idle_seconds=10, clock=lambda: now[0])
    store.update("old", lambda w: (None, StreamWindow(count=1)))
    now[0] = 5.0
    store.update("young", lambda w: (None, StreamWindow(count=1)))
    now[0] = 12.0
    assert store.get("old") is None and store.get("young") is not None
    assert store.active() == 1
    seen = store.update("old", lambda w: (w, StreamWindow(count=1)))
    assert seen is None  # an expired stream starts afresh


def test_tens_of_thousands_of_streams_stay_small():
    store = MemoryStreamStore(max_sessions=20_000)

    def window(i: int) -> StreamWindow:  # two real segments of its own for every stream
        segments = (f"这款面霜真的很好用第{i}次", f"大家可以放心购买{i}")
        return StreamWindow(segments, offset=40, reminded=(("absolute_terms.superlative", 1.0),), count=7)

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(25_000):
        store.update(f"stream-{i}", lambda w, i=i: (None, window(i)))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert store.active() == 20_000
    assert used / 20_000 < 2_000, f"{used / 20_000:.0f} bytes per stream"


def test_concurrent_streams_do_not_leak_into_each_other(moderator):
    sessions = StreamSessions(moderator, MemoryStreamStore(stripes=4))  # few stripes: streams share locks
    # Every stream says the cure claim split in two, interleaved with every other stream.
    names = [f"room-{i}" for i in range(40)]

    def speak(name: str) -> list[SegmentResult]:
        return [sessions.segment(name, text) for text in ["用了能根", "治痘痘", "大家好"]]

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(speak, names))
    for name, results in zip(names, outcomes, strict=True):
        assert [r.index for r in results] == [1, 2, 3], name
        assert [[h.text for h in r.result.hits] for r in results] == [[], ["根治"], []], name
        assert all(r.result.id == name for r in results)


def test_one_stream_hammered_from_many_threads_counts_every_segment(moderator):
    sessions = StreamSessions(moderator, MemoryStreamStore())
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: sessions.segment("busy", f"第{i}段"), range(64)))
    assert sessions.store.get("busy").count == 64


# -- stores: Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_store():
    store = RedisStreamStore(REDIS_URL, prefix=f"test-{uuid.uuid4().hex[:8]}:", idle_seconds=30)
    try:
        store.ping()
    except Exception as exc:  # pragma: no cover - `make test` starts Redis
        pytest.fail(f"Redis is not running on 127.0.0.1:6379 ({exc}); run `make services`")
    yield store
    store.clear()
    store.close()


@pytest.mark.redis
def test_redis_store_finds_violations_across_segments(moderator, redis_store):
    sessions = StreamSessions(moderator, redis_store)
    assert sessions.segment("r1", "用了能根").result.hits == ()
    hit = sessions.segment("r1", "治痘痘").result.hits[0]
    assert (hit.label, hit.start, hit.end, hit.text) == (Label.EFFICACY, 0, 1, "根治")
    assert sessions.active() == 1
    ttl = redis_store._redis.pttl(redis_store._key("r1"))
    assert 0 < ttl <= 30_000  # idle streams expire in Redis by themselves
    assert sessions.end("r1") is True
    assert redis_store.get("r1") is None and sessions.active() == 0


@pytest.mark.redis
def test_two_stores_on_one_redis_share_a_stream_and_its_cooldown(moderator, redis_store):
    # Two workers: separate store objects (separate connections), one Redis.
    other = RedisStreamStore(REDIS_URL, prefix=redis_store.prefix, idle_seconds=30)
    a, b = StreamSessions(moderator, redis_store), StreamSessions(moderator, other)
    a.segment("shared", "加")
    b.segment("shared", "我微")
    last = a.segment("shared", "信")
    assert [h.text for h in last.result.hits] == ["加我微信"]
    first = b.segment("shared", "这是全网最好的")
    again = a.segment("shared", "真的最好")
    assert first.result.reminders and again.result.reminders == ()
    assert again.suppressed == ("absolute_terms.superlative",)
    other.close()


@pytest.mark.redis
def test_concurrent_writers_to_one_redis_stream_lose_no_segment(moderator, redis_store):
    stores = [RedisStreamStore(REDIS_URL, prefix=redis_store.prefix, idle_seconds=30) for _ in range(4)]
    sessions = [StreamSessions(moderator, s) for s in stores]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: sessions[i % 4].segment("contended", f"第{i}段"), range(40)))
    assert redis_store.get("contended").count == 40
    for s in stores:
        s.close()


@pytest.mark.redis
def test_redis_store_is_bounded(redis_store):
    redis_store.max_sessions = 5
    for i in range(8):
        redis_store.update(f"s{i}", lambda w: (None, StreamWindow(count=1)))
        time.sleep(0.002)  # distinct last-use times
    assert redis_store.active() == 5
    assert redis_store.get("s0") is None and redis_store.get("s7") is not None


def test_memory_store_lock_is_per_stripe_not_global():
    store = MemoryStreamStore(stripes=2)
    # Find two stream ids on different stripes; a slow step on one must not block the other.
    a = "x0"
    b = next(f"x{i}" for i in range(1, 100) if store._lock(f"x{i}") is not store._lock(a))
    entered = threading.Event()
    release = threading.Event()

    def slow(w):
        entered.set()
        release.wait(5)
        return None, StreamWindow(count=1)

    t = threading.Thread(target=store.update, args=(a, slow))
    t.start()
    entered.wait(5)
    began = time.perf_counter()
    store.update(b, lambda w: (None, StreamWindow(count=1)))
    assert time.perf_counter() - began < 1.0
    release.set()
    t.join()


def test_async_path_serializes_each_stream_and_keeps_streams_apart(moderator):
    import asyncio

    sessions = StreamSessions(moderator, MemoryStreamStore(stripes=4))

    async def check(item, *, layers=None):
        await asyncio.sleep(0)  # let other streams' coroutines interleave, as the batcher would
        return moderator.check_many([item], layers=layers)[0]

    async def speak(name: str) -> list[SegmentResult]:
        return [await sessions.segment_async(name, t, check=check) for t in ["专家", "推荐的牙膏", "大家好"]]

    async def main() -> list[list[SegmentResult]]:
        names = [f"room-{i}" for i in range(30)]
        # The same stream spoken to from two coroutines at once must still count 1..6.
        both = asyncio.gather(speak("shared"), speak("shared"))
        results = await asyncio.gather(*(speak(n) for n in names))
        return [*results, *await both]

    outcomes = asyncio.run(main())
    for results in outcomes[:30]:
        assert [r.index for r in results] == [1, 2, 3]
        assert [[h.text for h in r.result.hits] for r in results] == [[], ["专家推荐"], []]
    shared = sorted(r.index for results in outcomes[30:] for r in results)
    assert shared == [1, 2, 3, 4, 5, 6]


def test_long_earlier_segments_contribute_their_tail(moderator):
    long_intro = "今天给大家介绍我们家的新款面霜，质地很清爽，上脸一点都不油腻，很多老粉都回购了好几次，" * 2 + "用了能根"
    results = replay(moderator, [long_intro, "治痘痘"])
    assert [(h.text, h.start, h.end) for h in results[1].result.hits] == [("根治", 0, 1)]
    assert results[1].earlier == (1,)
