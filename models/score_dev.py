"""Measure the shipped model alone on a labelled set (e.g. ../shared/eval/dev.jsonl): predictions only.

Writes `{"id", "labels", "hits"}` lines for the reference scorer. Used for the model card's figures,
never for training or threshold choice. `python -m models.score_dev DEV.jsonl PRED.jsonl`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from moderation.classifier import Classifier
from moderation.settings import DEFAULT_MODEL_DIR


def main(argv: list[str]) -> int:
    gold_path, pred_path = Path(argv[0]), Path(argv[1])
    clf = Classifier(DEFAULT_MODEL_DIR, threads=2)
    rows = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    outs = clf.predict([r["text"] for r in rows])
    with pred_path.open("w", encoding="utf-8") as f:
        for row, out in zip(rows, outs, strict=True):
            labels = [lab.value for lab, thr in clf.thresholds.items() if out.scores.get(lab) >= thr]
            hits = [{"label": s.label.value, "start": s.start, "end": s.end} for s in out.spans
                    if s.label.value in labels]
            f.write(json.dumps({"id": row["id"], "labels": labels, "hits": hits}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
