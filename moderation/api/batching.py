"""Coalesce concurrent checks into `Moderator.check_many` calls on a few worker threads.

Requests that arrive while the workers are busy are judged together: the classifier scores them
in one batch, and the event loop pays one thread hand-off per batch instead of one per request.
Nothing waits for a batch to fill: a worker takes whatever is queued when it becomes free, so a
lone request is judged at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from moderation.engine import CheckItem, Moderator
from moderation.types import Kind, Layer, ProductCategory, Result

log = logging.getLogger("moderation.api")


@dataclass(slots=True)
class _Job:
    items: Sequence[CheckItem]
    layers: frozenset[Layer] | None
    future: Future[list[Result]] = field(default_factory=Future)


class Batcher:
    def __init__(self, moderator: Moderator, *, max_items: int = 64, threads: int = 1) -> None:
        self.moderator = moderator
        self.max_items = max_items
        self.threads = threads
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(
        self, items: Sequence[CheckItem], *, layers: frozenset[Layer] | None = None
    ) -> Future[list[Result]]:
        """Thread-safe; the future holds the results in order, or the engine's exception."""
        job = _Job(items, layers)
        with self._lock:
            # Workers start on first use, and again after close(): an app may go through several
            # lifespans (tests do), and a check must never wait on workers that are gone.
            if not self._workers:
                self._workers = [
                    threading.Thread(
                        target=self._work, args=(self._queue,), name=f"moderation-batcher-{i}", daemon=True
                    )
                    for i in range(self.threads)
                ]
                for thread in self._workers:
                    thread.start()
            self._queue.put(job)
        return job.future

    async def check_many(
        self, items: Sequence[CheckItem], *, layers: frozenset[Layer] | None = None
    ) -> list[Result]:
        return await asyncio.wrap_future(self.submit(items, layers=layers))

    async def check(self, item: CheckItem, *, layers: frozenset[Layer] | None = None) -> Result:
        return (await self.check_many([item], layers=layers))[0]

    def close(self) -> None:
        """Let the workers finish what is queued, then stop them; a later submit starts new ones."""
        with self._lock:
            workers, old = self._workers, self._queue
            self._workers, self._queue = [], queue.SimpleQueue()
            for _ in workers:
                old.put(None)
        for thread in workers:
            thread.join(timeout=30)

    # -- workers ---------------------------------------------------------------------------------

    def _work(self, jobs_queue: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            job = jobs_queue.get()
            if job is None:
                return
            jobs = [job]
            size = len(job.items)
            while size < self.max_items:
                try:
                    more = jobs_queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    jobs_queue.put(None)  # leave the stop signal for this thread's next turn
                    break
                jobs.append(more)
                size += len(more.items)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        by_layers: dict[frozenset[Layer] | None, list[_Job]] = {}
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                by_layers.setdefault(job.layers, []).append(job)
        for layers, group in by_layers.items():
            items = [item for job in group for item in job.items]
            try:
                results = self.moderator.check_many(items, layers=layers)
            except Exception as exc:
                if len(group) == 1:
                    group[0].future.set_exception(exc)
                    continue
                # One bad job must not fail its neighbours: judge each alone.
                for job in group:
                    self._one(job)
                continue
            start = 0
            for job in group:
                job.future.set_result(results[start : start + len(job.items)])
                start += len(job.items)

    def _one(self, job: _Job) -> None:
        try:
            job.future.set_result(self.moderator.check_many(job.items, layers=job.layers))
        except Exception as exc:
            job.future.set_exception(exc)


class BatchingModerator:
    """A Moderator whose `check` goes through the batcher; for code that calls the engine from a
    worker thread (stream sessions), so their model work is batched with everyone else's."""

    def __init__(self, batcher: Batcher) -> None:
        self._batcher = batcher
        self._moderator = batcher.moderator

    def check(
        self,
        text: str,
        *,
        kind: Kind = Kind.TRANSCRIPT,
        category: ProductCategory = ProductCategory.OTHER,
        layers: frozenset[Layer] | None = None,
        id: str | None = None,
    ) -> Result:
        return self._batcher.submit([CheckItem(text, kind, category, id)], layers=layers).result()[0]

    def check_many(self, items: Sequence[CheckItem], *, layers: frozenset[Layer] | None = None) -> list[Result]:
        return self._batcher.submit(items, layers=layers).result()

    def __getattr__(self, name: str) -> Any:  # live, status(), versions: the real moderator's
        return getattr(self._moderator, name)
