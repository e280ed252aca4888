"""The shipped int8 classifier alone: latency per 40-character segment at batch 1, throughput at batch 32."""

from __future__ import annotations

import os
import statistics
import time

from bench.corpus import segments
from moderation.classifier import Classifier
from moderation.settings import DEFAULT_MODEL_DIR

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


def _latency(clf: Classifier, texts: list[str]) -> tuple[float, float, float]:
    """(median, p99) wall ms per call, and median CPU ms per call: on a shared machine the wall
    figures include waiting for a core, the CPU figure does not."""
    for t in texts[:20]:
        clf.predict([t])
    times, cpu = [], []
    for t in texts:
        t0, c0 = time.perf_counter(), time.process_time()
        clf.predict([t])
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], statistics.median(cpu)


def _throughput(clf: Classifier, texts: list[str], batch: int = 32) -> float:
    clf.predict(texts[:batch])
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for b in range(0, len(texts), batch):
            clf.predict(texts[b : b + batch])
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def run() -> str:
    texts = forty_char_segments(500)
    lines = [
        "### Classifier (int8 ONNX, 40-character segments)",
        "",
        "| threads | batch 1 median ms | batch 1 p99 ms | batch 1 median CPU ms | batch 32 segments/s |",
        "|---|---|---|---|---|",
    ]
    version = ""
    for threads in (1, 2):
        clf = Classifier(DEFAULT_MODEL_DIR, threads=threads)
        version = clf.version
        median, p99, cpu = _latency(clf, texts)
        rate = _throughput(clf, texts)
        lines.append(f"| {threads} | {median:.2f} | {p99:.2f} | {cpu:.2f} | {rate:.0f} |")
    lines += ["", f"Model `{version}`; {len(texts)} segments; p99 is the 99th percentile of single calls;",
              f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
