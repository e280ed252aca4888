"""The shipped int8 classifier and the engine's whole check() with and without it: latency per
40-character segment at batch 1, throughput at batch 32, with 1 and 2 threads."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from bench.corpus import segments
from moderation.classifier import Classifier
from moderation.engine import CheckItem, build_moderator
from moderation.settings import DEFAULT_MODEL_DIR, Settings

SEGMENT_CHARS = 40


def forty_char_segments(n: int) -> list[str]:
    """Join the bench corpus's ASR-like segments into pieces of exactly 40 characters."""
    out: list[str] = []
    pool = iter(segments(n * 4, seed=5))
    buf = ""
    while len(out) < n:
        buf += next(pool) + " "
        if len(buf) >= SEGMENT_CHARS:
            out.append(buf[:SEGMENT_CHARS])
            buf = ""
    return out


Batch = Callable[[list[str]], object]


def _latency(run: Batch, texts: list[str]) -> tuple[float, float, float]:
    """(median, p99) wall ms per call, and median CPU ms per call: on a shared machine the wall
    figures include waiting for a core, the CPU figure does not."""
    for t in texts[:20]:
        run([t])
    times, cpu = [], []
    for t in texts:
        t0, c0 = time.perf_counter(), time.process_time()
        run([t])
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], statistics.median(cpu)


def _throughput(run: Batch, texts: list[str], batch: int = 32) -> float:
    run(texts[:batch])
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for b in range(0, len(texts), batch):
            run(texts[b : b + batch])
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def _paths(threads: int) -> dict[str, Batch]:
    """What is timed: the classifier alone, and the engine's whole check() with and without it."""
    clf = Classifier(DEFAULT_MODEL_DIR, threads=threads)
    both = build_moderator(Settings(model_threads=threads))
    rules = build_moderator(Settings(rules_only=True))
    return {
        "classifier alone": clf.predict,
        "check(), rules + model": lambda ts: both.check_many([CheckItem(t) for t in ts]),
        "check(), rules only": lambda ts: rules.check_many([CheckItem(t) for t in ts]),
    }


def run() -> str:
    texts = forty_char_segments(500)
    lines = [
        "### Classifier and the combined path (int8 ONNX, 40-character segments)",
        "",
        "| path | threads | batch 1 median ms | batch 1 p99 ms | batch 1 median CPU ms | batch 32 segments/s |",
        "|---|---|---|---|---|---|",
    ]
    for threads in (1, 2):
        for name, path in _paths(threads).items():
            if name.endswith("rules only") and threads > 1:
                continue  # no model, no threads to vary
            median, p99, cpu = _latency(path, texts)
            rate = _throughput(path, texts)
            lines.append(f"| {name} | {threads} | {median:.2f} | {p99:.2f} | {cpu:.2f} | {rate:.0f} |")
    version = Classifier(DEFAULT_MODEL_DIR).version
    lines += ["", f"Model `{version}`; {len(texts)} segments; p99 is the 99th percentile of single calls;",
              f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
