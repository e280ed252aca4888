"""Sample the committed real corpora (`models/data/real/*.txt.gz`) from a folder of extracted text.

The folder holds one file per genre (`reviews.txt`, `weibo.txt`, …: one text per line, 8–120
characters, at least half CJK), extracted from the public repositories that
`models/data/real/SOURCES.md` lists with path and commit (fetched as repository snapshots; no file of
`../shared/eval/REAL-SOURCES.md` nor any copy of one, and neither repository it bans). This keeps
what teaches the model most: every line with a word the rules look for (`最好`, `治疗`, `微信`, …),
up to a cap per genre, and a sample of the rest, so that ordinary text stays ordinary.

`python -m models.data.collect --src /work/corpora` rewrites the files; `make model` only reads them.
Lines that share a 10-character run with an evaluation text (`--eval FILE`, repeatable) are dropped.
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
from pathlib import Path

from models.data.real import REAL_DIR, SELLERS

# Genre file in the source folder → genre name here (a seller's genre is labelled by the rules).
GENRES = {
    "reviews": "reviews", "weibo": "weibo", "news": "news", "medical": "medical", "qa_general": "qa",
    "dialogue": "dialogue", "ecommerce": "products",
}
assert SELLERS <= set(GENRES.values()) | {"apps"}
# Words of the advertising law and of contact offers, as they appear in ordinary writing too.
TRIGGERS = re.compile(
    r"最|第一|冠军|顶级|国家级|唯一|之王|史上|独一|绝对|首选|极品|治|疗|药|病|癌|降压|血压|血糖|美白|淡斑|祛斑|"
    r"减肥|瘦|痘|斑|防脱|生发|排毒|消炎|杀菌|抗|免疫|长高|助眠|补肾|壮阳|永久|永不|保证|100%|百分之?百|有效|见效|"
    r"专家|医生|医院|认证|推荐|微信|威信|[Vv][Xx信]|QQ|qq|扣扣|企鹅|电话|手机|联系|加我|私聊|私信|淘宝|某宝|朋友圈|"
    r"转账|红包|公众号|小红书|快手|抖音|微博|二维码|热线|客服|好友"
)
TRIGGER_CAP = 30_000  # per genre
OTHERS = 6_000  # per genre, lines without a trigger
SEED = 13
N = 10


def _grams(paths: list[Path]) -> set[str]:
    import json

    grams: set[str] = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = json.loads(line)["text"]
                grams.update(text[i : i + N] for i in range(len(text) - N + 1))
    return grams


def sample(lines: list[str], rng: random.Random) -> list[str]:
    hot = [t for t in lines if TRIGGERS.search(t)]
    cold = [t for t in lines if not TRIGGERS.search(t)]
    return rng.sample(hot, min(len(hot), TRIGGER_CAP)) + rng.sample(cold, min(len(cold), OTHERS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", type=Path, required=True)
    ap.add_argument("--eval", type=Path, action="append", default=[], help="evaluation JSONL whose texts must not leak")
    args = ap.parse_args()
    banned = _grams(args.eval)
    REAL_DIR.mkdir(parents=True, exist_ok=True)
    for stem, genre in GENRES.items():
        rng = random.Random(f"{SEED}:{genre}")
        lines = sorted(set((args.src / f"{stem}.txt").read_text(encoding="utf-8").splitlines()))
        lines = [t.strip() for t in lines if t.strip()]
        clean = [t for t in lines if not any(t[i : i + N] in banned for i in range(len(t) - N + 1))]
        chosen = sorted(sample(clean, rng))
        with gzip.GzipFile(REAL_DIR / f"{genre}.txt.gz", "wb", mtime=0) as raw:
            raw.write(("\n".join(chosen) + "\n").encode("utf-8"))
        print(f"{genre}: {len(chosen)} of {len(lines)} lines ({len(lines) - len(clean)} dropped as eval overlap)")


if __name__ == "__main__":
    main()
