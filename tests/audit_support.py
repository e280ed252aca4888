"""Sample archives for the audit tests: our own Chinese transcripts, judged by a small stable pack."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from moderation.audit.judge import AuditOptions
from moderation.settings import Settings
from moderation.types import Layer

RULES_DIR = Path(__file__).resolve().parent / "data" / "audit_rules"
OPTIONS = AuditOptions(layers=frozenset({Layer.RULES}))


def settings() -> Settings:
    return Settings(rules_dir=RULES_DIR, rules_only=True)


# 根治 is cut across cues 2 and 3; 加我微 | 信 across cues 5 and 6.
HONEY_SRT = """1
00:10:00,000 --> 00:10:02,000
老铁们晚上好 今天上土蜂蜜

2
00:10:02,200 --> 00:10:04,000
这个蜂蜜天天喝 能根

3
00:10:04,300 --> 00:10:06,000
治老胃病 好多人喝好了

4
00:10:06,500 --> 00:10:08,000
今天全网最低价 只要五十九

5
00:10:08,100 --> 00:10:10,000
想要便宜的 加我微

6
00:10:10,200 --> 00:10:12,000
信 私下给你算
"""

CREAM_VTT = """WEBVTT

00:00:05.000 --> 00:00:07.000
宝宝们看这个面霜 <b>保湿</b>

00:00:07.500 --> 00:00:09.000
用了两周 脸上痘印根治了

00:00:09.500 --> 00:00:11.000
有问题找店铺客服 别加微信
"""

TEA_JSONL = [
    {"start": 100.0, "end": 102.0, "text": "叔叔阿姨们好 今天喝点茶"},
    {"start": 102.5, "end": 104.0, "text": "这个茶叶是高山上的"},
    {"start": 104.2, "end": 106.0, "text": "有问题找平台客服 咱们小黄车下单"},
    {"start": 106.5, "end": 108.0, "text": "喝了能治好胃病 真的"},
]

TOY_TXT = "小朋友们好\n这个积木全网最低价\n\n拼起来特别好玩\n"


def write(path: Path, data: str | bytes, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def sample_archive(root: Path) -> Path:
    """Four readable streams in four formats and encodings, two broken files, and metadata."""
    write(root / "laowang" / "honey_0915.srt", HONEY_SRT)
    write(root / "laowang" / "honey_0915.meta.json", json.dumps({"streamer": "老王", "category": "agri"}))
    write(root / "taozi" / "cream_0921.vtt.gz", "\ufeff" + CREAM_VTT, gz=True)
    write(
        root / "laozhou" / "tea_0928.jsonl",
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in TEA_JSONL),
    )
    write(root / "xiaopang" / "toys_1002.txt", TOY_TXT.encode("gbk"))
    write(root / "manifest.csv", "stream,streamer,category\ntaozi/cream_0921.vtt.gz,桃子,cosmetics\n")
    write(root / "broken" / "empty.srt", b"")
    write(root / "broken" / "cut.srt.gz", gzip.compress(HONEY_SRT.encode())[:30])
    return root


def read_findings(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
