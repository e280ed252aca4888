"""`make model`: generate the corpus → train → export to ONNX → int8 → thresholds → models/shipped/.

Seeded end to end; the defaults are the shipped model's recipe: 80,000 generated examples, a
3-layer 192-wide encoder, 10,500 steps on one thread (about 12 minutes of training and 15 for the
whole build on an idle core of this machine; one thread, so the result is the same bit for bit
on the same kind of machine, and the other core stays free).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, fields
from pathlib import Path

from models.data.generate import write
from models.export import TOLERANCE, ship
from models.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent


def build(*, out: Path, work: Path, n: int, seed: int, cfg: TrainConfig, background: bool = True,
          tolerance: tuple[float, float] = TOLERANCE, log=print) -> dict:
    t0 = time.monotonic()
    data = work / "data"
    log(f"generating {n} examples into {data}")
    counts = write(data, n, seed, background=background)
    log(json.dumps(counts))
    run = work / "run"
    train(data, run, cfg, log=log)
    figures = ship(run, data, out, work=work, tolerance=tolerance, log=log)
    log(f"build done in {(time.monotonic() - t0) / 60:.1f} min → {out}")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "shipped")
    ap.add_argument("--work", type=Path, default=ROOT / "work")
    ap.add_argument("-n", type=int, default=80_000)
    ap.add_argument("--data-seed", type=int, default=13)
    for f in fields(TrainConfig):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = vars(ap.parse_args())
    out, work, n, seed = args.pop("out"), args.pop("work"), args.pop("n"), args.pop("data_seed")
    cfg = TrainConfig(**{k: v for k, v in args.items() if k in asdict(TrainConfig())})
    build(out=out, work=work, n=n, seed=seed, cfg=cfg, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
