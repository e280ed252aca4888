"""Batch audit throughput in stream-hours per minute (15,000 characters = one stream-hour).

Synthetic SRT transcripts (bench.corpus segments, ~2 s cues) are audited end to end (reading,
the live window, rules and optionally the model, per-stream results, the report) with the local
engine and with Ray on this machine, rules-only and with the model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import segments
from moderation.audit.judge import AuditOptions
from moderation.audit.run import run_audit
from moderation.types import Layer

CHARS_PER_STREAM_HOUR = 15_000
# Total audited per configuration: a day's archive is thousands of hours, so the fixed cost of
# starting workers (~1.5 s: imports, jieba, the ruleset, the model) is measured over a run long
# enough to be paid once, as in a real audit, and reported in its own column.
STREAM_HOURS = float(os.environ.get("BENCH_AUDIT_HOURS", "24"))
STREAM_MINUTES = 15  # length of one synthetic stream


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_streams(root: Path, *, hours: float = STREAM_HOURS) -> int:
    """Synthetic transcripts totalling `hours` stream-hours; returns the characters written."""
    chars_per_stream = CHARS_PER_STREAM_HOUR * STREAM_MINUTES // 60
    n_streams = max(1, round(hours * 60 / STREAM_MINUTES))
    pool = segments(max(2000, chars_per_stream // 10), seed=23)
    total = 0
    for s in range(n_streams):
        blocks, chars, t, i = [], 0, 0.0, s * 131
        while chars < chars_per_stream:
            text = pool[i % len(pool)]
            i += 1
            blocks.append(f"{len(blocks) + 1}\n{_clock(t)} --> {_clock(t + 1.8)}\n{text}\n")
            chars += len(text)
            t += 2.0
        (root / f"stream_{s:04d}.srt").write_text("\n".join(blocks), encoding="utf-8")
        total += chars
    return total


def _build_seconds(layers: frozenset[Layer]) -> float:
    """How long a fresh worker process takes to import and build its moderator (every run's fixed
    cost; the workers start in parallel)."""
    rules_only = layers == frozenset({Layer.RULES})
    code = (
        "from moderation.engine import build_moderator; from moderation.settings import Settings; "
        f"build_moderator(Settings(rules_only={rules_only}, model_threads=1))"
    )
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - began


def _measure(root: Path, chars: int, *, layers: frozenset[Layer], engine: str, workers: int) -> str:
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        run = run_audit(
            [root], Path(out), options=AuditOptions(layers=layers), engine=engine, workers=workers
        )
        elapsed = time.perf_counter() - began
    segments_done = sum(r["segments"] for r in run.reports)
    hours = chars / CHARS_PER_STREAM_HOUR
    startup = _build_seconds(layers)
    return (
        f"| {'+'.join(sorted(x.value for x in layers))} | {engine} | {workers} | {hours:.1f} | {segments_done:,} "
        f"| {elapsed:.1f} | {startup:.1f} | **{hours / (elapsed / 60):.0f}** "
        f"| {hours / (max(elapsed - startup, 1e-3) / 60):.0f} |"
    )


def _model_problem() -> str | None:
    from moderation.engine import build_moderator
    from moderation.settings import Settings

    try:
        build_moderator(Settings(model_threads=1))
    except Exception as exc:  # the model may not be built yet: say so in the table instead
        return f"{type(exc).__name__}: {exc}"
    return None


def _start_ray(workers: int):  # type: ignore[no-untyped-def]
    """A local Ray, started before the clock runs: a real cluster is up before an audit starts."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return ray


def run() -> str:
    workers = min(2, os.cpu_count() or 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        chars = write_streams(root)
        problem = _model_problem()
        configs = [(frozenset({Layer.RULES}), "local"), (frozenset(Layer), "local")]
        configs += [(frozenset({Layer.RULES}), "ray"), (frozenset(Layer), "ray")]
        ray = _start_ray(workers)
        for layers, engine in configs:
            name = "+".join(sorted(x.value for x in layers))
            if Layer.MODEL in layers and problem:
                rows.append(f"| {name} | {engine} | {workers} | – | – | – | – | – | not run: {problem} |")
            elif engine == "ray" and ray is None:
                rows.append(
                    f"| {name} | ray | {workers} | – | – | – | – | – | not run: ray is not installed |"
                )
            else:
                rows.append(_measure(root, chars, layers=layers, engine=engine, workers=workers))
        if ray is not None:
            ray.shutdown()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join(
        [
            "### Batch audit (`moderation audit`)",
            "",
            f"Synthetic SRT streams of {STREAM_MINUTES} min ({CHARS_PER_STREAM_HOUR:,} characters per stream-hour, "
            "~2 s cues), audited end to end with the live window (reading, rules, model, per-stream "
            "results, report), worker start-up and model loading included; Ray is a local Ray started "
            "before the clock (a cluster is up before an audit starts). Target: ≥ 100 stream-hours/min with the model on 2 cores.",
            "",
            f"Load average when measured: {load} (other work on the machine slows every row alike).",
            "",
            "| layers | engine | workers | stream-hours | segments | seconds | of which start-up | "
            "stream-hours/min | without start-up |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


if __name__ == "__main__":
    print(run())
