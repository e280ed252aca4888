"""Run an audit: find the streams, judge them on local processes or a Ray cluster, keep every
finished stream on disk at once (temp file + rename), and write the report at the end.

An interrupted run loses only the streams in flight; `resume=True` reuses every finished result
made from the same bytes with the same options, so nothing is judged or reported twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moderation.audit.judge import AuditOptions, audit_source, describe_error
from moderation.audit.readers import Source, discover
from moderation.settings import Settings
from moderation.types import Layer

if TYPE_CHECKING:
    from moderation.engine import Moderator

STREAMS_DIR = "streams"
OnResult = Callable[[Source, dict[str, Any]], None]


@dataclass
class AuditRun:
    """What a run did: every stream's report (reused ones included), in stream-name order."""

    reports: list[dict[str, Any]]
    judged: int
    reused: int
    out: Path
    interrupted: bool = False
    files: dict[str, Path] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Per-stream results on disk


def result_path(out: Path, stream: str) -> Path:
    digest = hashlib.sha1(stream.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return out / STREAMS_DIR / f"{digest}.json"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results and reports are for others to read
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_report(out: Path, report: dict[str, Any]) -> None:
    write_atomic(result_path(out, report["stream"]), json.dumps(report, ensure_ascii=False))


def load_finished(
    out: Path, source: Source, options: AuditOptions, *, ruleset_version: str | None = None
) -> dict[str, Any] | None:
    """A finished result for this stream, if it was made from the same bytes with the same options
    (and, when given, the same ruleset: a run resumed after a publish must not mix two)."""
    path = result_path(out, source.name)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, or torn by a crash before the rename could happen: judge it again
    same = (
        report.get("stream") == source.name
        and report.get("fingerprint") == source.fingerprint
        and report.get("options") == options.to_dict()
        and (ruleset_version is None or report.get("ruleset_version") == ruleset_version)
    )
    return report if same else None


def clear_results(out: Path) -> None:
    for path in (out / STREAMS_DIR).glob("*.json"):
        path.unlink()


# ---------------------------------------------------------------------------------------------
# Engines: each yields (source, report) as streams finish


def settings_for(layers: frozenset[Layer] | None, base: Settings | None = None) -> Settings:
    """Rules-only audits never load the model; each worker process runs the model on one thread."""
    base = base or Settings()
    return base.model_copy(update={"rules_only": layers == frozenset({Layer.RULES}), "model_threads": 1})


def judge_in_process(
    sources: list[Source], settings: Settings, options: AuditOptions, moderator: Moderator | None = None
) -> Iterator[tuple[Source, dict[str, Any]]]:
    from moderation.engine import build_moderator

    moderator = moderator or build_moderator(settings)
    for source in sources:
        yield source, audit_source(moderator, source, options)


_worker: dict[str, Any] = {}


def _init_worker(settings: dict[str, Any], options: AuditOptions) -> None:
    from moderation.engine import build_moderator

    _worker["moderator"] = build_moderator(Settings(**settings))
    _worker["options"] = options


def _judge_in_worker(source: Source) -> dict[str, Any]:
    return audit_source(_worker["moderator"], source, _worker["options"])


def judge_local(
    sources: list[Source],
    settings: Settings,
    options: AuditOptions,
    *,
    workers: int,
    moderator: Moderator | None = None,
) -> Iterator[tuple[Source, dict[str, Any]]]:
    """`workers` processes, each building its moderator once; one process runs in this one
    (with `moderator` when the caller has built it already)."""
    if workers <= 1 or len(sources) <= 1:
        yield from judge_in_process(sources, settings, options, moderator)
        return
    # spawn, not fork: onnxruntime's and jieba's threads do not survive a fork.
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(sources)),
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(settings.model_dump(exclude_defaults=True), options),
    )
    try:
        # Keep a few streams queued per worker, largest first so the last ones are short.
        queue = iter(sorted(sources, key=lambda s: -s.size))
        pending: dict[Future[dict[str, Any]], Source] = {}
        for source in _take(queue, workers * 4):
            pending[pool.submit(_judge_in_worker, source)] = source
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                source = pending.pop(future)
                for nxt in _take(queue, 1):
                    pending[pool.submit(_judge_in_worker, nxt)] = nxt
                yield source, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _take(items: Iterator[Source], n: int) -> list[Source]:
    taken = []
    for _ in range(n):
        try:
            taken.append(next(items))
        except StopIteration:
            break
    return taken


class AuditActor:
    """A Ray actor: builds its moderator once, then judges the streams it is sent."""

    def __init__(self, settings: dict[str, Any], options: AuditOptions) -> None:
        from moderation.engine import build_moderator

        self.moderator = build_moderator(Settings(**settings))
        self.options = options

    def judge(self, source: Source, data: bytes | None, read_error: str | None) -> dict[str, Any]:
        return audit_source(self.moderator, source, self.options, data, read_error=read_error)


def judge_ray(
    sources: list[Source], settings: Settings, options: AuditOptions, *, workers: int | None
) -> Iterator[tuple[Source, dict[str, Any]]]:
    """Ray at RAY_ADDRESS (or an already initialised one, or a local one); one actor per worker.

    The driver reads each file and ships its bytes, so the transcripts need to exist only where
    the audit is started; the cluster needs only the same `moderation` package installed.
    """
    import ray
    from ray.util import ActorPool

    started = False
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, log_to_driver=False)
        started = True
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = max(1, min(n, len(sources)))
        actor_class = ray.remote(num_cpus=1)(AuditActor)
        actors = [actor_class.remote(settings.model_dump(exclude_defaults=True), options) for _ in range(n)]  # type: ignore[attr-defined]
        pool = ActorPool(actors)
        by_name = {s.name: s for s in sources}

        def submit(actor: Any, source: Source) -> Any:
            try:
                return actor.judge.remote(source, source.path.read_bytes(), None)
            except OSError as exc:  # reported in the stream's summary row, like any unreadable file
                return actor.judge.remote(source, None, describe_error(exc))

        for report in pool.map_unordered(submit, sorted(sources, key=lambda s: -s.size)):
            yield by_name[report["stream"]], report
        for actor in actors:
            ray.kill(actor)  # type: ignore[arg-type]
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------


def run_audit(
    paths: Iterable[Path],
    out: Path,
    *,
    options: AuditOptions | None = None,
    engine: str = "local",
    workers: int | None = 1,
    resume: bool = False,
    settings: Settings | None = None,
    on_start: Callable[[list[Source], list[Source]], None] | None = None,
    on_result: OnResult | None = None,
    moderator: Moderator | None = None,
) -> AuditRun:
    """Audit every transcript under `paths` into `out`; raises readers.InputError for bad paths.

    `on_start(all, todo)` and `on_result(source, report)` let a caller show progress. A
    `moderator` already built with the same settings is used when the run stays in this process.
    """
    from moderation.audit import report as reporting

    options = options or AuditOptions()
    out.mkdir(parents=True, exist_ok=True)
    sources = discover(list(paths), exclude=[out])
    if not resume:
        clear_results(out)
    finished: dict[str, dict[str, Any]] = {}
    if resume:
        for source in sources:
            done = load_finished(
                out, source, options, ruleset_version=moderator.ruleset_version if moderator else None
            )
            if done is not None:
                finished[source.name] = done
    todo = [s for s in sources if s.name not in finished]
    reused = len(finished)
    if on_start:
        on_start(sources, todo)

    settings = settings_for(options.layers, settings)
    interrupted = False
    if todo:
        judged = (
            judge_ray(todo, settings, options, workers=workers)
            if engine == "ray"
            else judge_local(
                todo, settings, options, workers=workers or os.cpu_count() or 1, moderator=moderator
            )
        )
        try:
            for source, report in judged:
                save_report(out, report)
                finished[source.name] = report
                if on_result:
                    on_result(source, report)
        except KeyboardInterrupt:
            interrupted = True
    reports = [finished[s.name] for s in sources if s.name in finished]
    run = AuditRun(
        reports=reports, judged=len(finished) - reused, reused=reused, out=out, interrupted=interrupted
    )
    if not interrupted:
        run.files = reporting.write_all(out, reports)
    return run
