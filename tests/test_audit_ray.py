"""`--engine ray` on a local Ray (2 CPUs, started once for this module) gives the local engine's findings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_support import OPTIONS, read_findings, sample_archive, settings

from moderation.audit.run import run_audit

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.usefixtures("local_ray")
def test_ray_and_local_engines_give_identical_results(tmp_path: Path) -> None:
    archive = sample_archive(tmp_path / "in")
    local = run_audit([archive], tmp_path / "local", options=OPTIONS, settings=settings(), workers=1)
    on_ray = run_audit(
        [archive], tmp_path / "ray", options=OPTIONS, settings=settings(), engine="ray", workers=2
    )
    assert on_ray.judged == local.judged == 6
    assert read_findings(tmp_path / "ray") == read_findings(tmp_path / "local")
    assert len(read_findings(tmp_path / "ray")) == 6
    for name in ("summary.csv", "report.html"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    # Ray, too, resumes: nothing is judged twice.
    again = run_audit(
        [archive],
        tmp_path / "ray",
        options=OPTIONS,
        settings=settings(),
        engine="ray",
        workers=2,
        resume=True,
    )
    assert (again.reused, again.judged) == (6, 0)
    assert ray.is_initialized()  # a Ray the caller started is left running
