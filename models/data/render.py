"""Render the disguised pieces of a phrase: numbers in every numeral system, handles, slot values."""

from __future__ import annotations

import random
import string

from models.data.banks import DISEASES

_CN = "零一二三四五六七八九"
_CN_SPOKEN = {"0": ["零", "洞"], "1": ["一", "幺"], "2": ["二", "两"], "7": ["七", "拐"]}
_FIN = "零壹贰叁肆伍陆柒捌玖"
_CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"
_NEG_CIRCLED = "⓿❶❷❸❹❺❻❼❽❾"
_PAREN = ["(0)", "⑴", "⑵", "⑶", "⑷", "⑸", "⑹", "⑺", "⑻", "⑼"]
_FULL = "０１２３４５６７８９"


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice(string.digits) for _ in range(9))


def landline(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return "400" + "".join(rng.choice(string.digits) for _ in range(7))
    area = rng.choice(["010", "021", "0755", "0531", "020", "0571", "028", "023"])
    return area + "".join(rng.choice(string.digits) for _ in range(8 if len(area) == 3 else 7))


def digits_as(rng: random.Random, digits: str, style: str | None = None) -> str:
    """A digit string in one numeral system, maybe split by spaces, hyphens or fillers."""
    style = style or rng.choice(["arabic", "arabic", "cn", "cn_spoken", "fin", "circled", "neg", "paren",
                                 "keycap", "full", "mixed"])
    out: list[str] = []
    for d in digits:
        i = int(d)
        if style == "arabic":
            out.append(d)
        elif style == "cn":
            out.append(_CN[i])
        elif style == "cn_spoken":
            out.append(rng.choice(_CN_SPOKEN.get(d, [_CN[i]])))
        elif style == "fin":
            out.append(_FIN[i])
        elif style == "circled":
            out.append(_CIRCLED[i])
        elif style == "neg":
            out.append(_NEG_CIRCLED[i])
        elif style == "paren":
            out.append(_PAREN[i])
        elif style == "keycap":
            out.append(d + "\ufe0f\u20e3")
        elif style == "full":
            out.append(_FULL[i])
        else:
            out.append(rng.choice([d, _CN[i], _FULL[i], rng.choice(_CN_SPOKEN.get(d, [_CN[i]]))]))
    return _split(rng, out)


def _split(rng: random.Random, parts: list[str]) -> str:
    r = rng.random()
    if r < 0.5:
        return "".join(parts)
    seps = [" ", "-", " ", "  ", "_", "."] if r < 0.85 else [" 那个 ", " 嗯 ", " 然后 "]
    sep = rng.choice(seps)
    groups: list[str] = []
    i = 0
    while i < len(parts):
        k = rng.choice([2, 3, 4])
        groups.append("".join(parts[i : i + k]))
        i += k
    return sep.join(groups)


def phone(rng: random.Random) -> str:
    return digits_as(rng, mobile(rng) if rng.random() < 0.8 else landline(rng))


def qq_number(rng: random.Random) -> str:
    n = rng.choice(string.digits[1:]) + "".join(rng.choice(string.digits) for _ in range(rng.randint(6, 9)))
    return digits_as(rng, n)


_SYLLABLES = ["xiao", "mei", "yu", "li", "an", "tian", "jia", "le", "bao", "ge", "jie", "shop", "home", "deco",
              "lucky", "ai", "xin", "mm", "zhen", "hao", "kk", "yy", "qing", "dd", "sun", "star", "luo"]


def handle(rng: random.Random) -> str:
    """A WeChat-like handle: letters, digits, underscores, sometimes leet or spaced out."""
    base = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 2)))
    tail = "".join(rng.choice(string.digits) for _ in range(rng.randint(0, 4)))
    h = base + (rng.choice(["_", "", "", "-"]) + tail if tail else "")
    r = rng.random()
    if r < 0.1:
        h = h.replace("o", "0").replace("i", "1").replace("l", "1")
    elif r < 0.2:
        h = " ".join(h)
    elif r < 0.3:
        h = h.upper()
    elif r < 0.35:
        h = "▶ " + h + " ◀"
    elif r < 0.45:
        h = digits_as(rng, mobile(rng))
    return h


_CN_NUM = ["一", "两", "三", "五", "七", "十", "3", "5", "7", "10"]


def fill(rng: random.Random, phrase: str, *, prod: str = "") -> str:
    return (
        phrase.replace("{dis}", rng.choice(DISEASES))
        .replace("{n}", rng.choice(_CN_NUM), 1)
        .replace("{n}", rng.choice(_CN_NUM))
        .replace("{prod}", prod)
    )


_UNITS = [(10000, "万"), (1000, "千"), (100, "百"), (10, "十")]


def spoken_amount(rng: random.Random, value: int) -> str:
    """An amount as it is said, with place words: 168 一百六十八, 1299 一千两百九十九, 35 三十五.
    Quantities and prices are said this way; contact numbers are read digit by digit."""
    if value < 10:
        return _CN[value] if value != 2 or rng.random() < 0.5 else "两"
    out: list[str] = []
    rest, zero = value, False
    for size, word in _UNITS:
        d, rest = divmod(rest, size)
        if d:
            if zero:
                out.append("零")
            lead = "两" if d == 2 and size >= 100 and rng.random() < 0.5 else _CN[d]
            out.append("" if (d == 1 and size == 10 and not out) else lead)
            out.append(word)
            zero = False
        elif out:
            zero = True
    if rest:
        out.append(("零" if zero else "") + _CN[rest])
    return "".join(out)


def about(rng: random.Random, value: int) -> str:
    """A rough amount: 三十几, 二十来, 一百多, 两百出头."""
    base = max(10, value // 10 * 10)
    return spoken_amount(rng, base) + rng.choice(["几", "来", "多", "出头"])


def amount(rng: random.Random, value: int) -> str:
    """A price or count in any of the ways it is written or said."""
    r = rng.random()
    if r < 0.4:
        return str(value)
    if r < 0.65:
        return spoken_amount(rng, value)
    if r < 0.8:
        return digits_as(rng, str(value), "cn")
    if r < 0.92:
        return "".join(_FULL[int(d)] for d in str(value))
    return about(rng, value)


def price(rng: random.Random) -> str:
    v = rng.choice([9.9, 19.9, 29, 39, 49, 59, 69, 79, 88, 99, 119, 128, 138, 168, 199, 259, 299, 399, 599, 1299])
    if isinstance(v, float):
        return str(v) if rng.random() < 0.6 else digits_as(rng, str(v).replace(".", ""), "cn")
    text = amount(rng, v)
    return text + rng.choice(["", "", "块", "元", "块钱"]) if rng.random() < 0.5 else text


def percent(rng: random.Random) -> str:
    """A share as written or said: 100%, 百分之百, 百分百, 百分之九十五, 95%."""
    if rng.random() < 0.4:
        return rng.choice(["100%", "百分之百", "百分百", "１００％", "100％"])
    value = rng.choice(range(30, 100, 5))
    return f"百分之{spoken_amount(rng, value)}" if rng.random() < 0.5 else f"{value}{rng.choice('%％')}"


FIBRES = ["纯棉", "棉", "桑蚕丝", "真丝", "羊毛", "羊绒", "莫代尔", "亚麻", "天丝", "涤纶", "白鸭绒", "白鹅绒",
          "牦牛绒", "竹纤维", "锦纶"]


def fill_numbers(rng: random.Random, template: str) -> str:
    def num(lo: int, hi: int) -> str:
        return str(rng.randint(lo, hi))

    return (
        template.replace("{price2}", price(rng))
        .replace("{price}", price(rng))
        .replace("{cnt2}", num(5, 50))
        .replace("{cnt}", amount(rng, rng.randint(1, 999)))
        .replace("{size}", rng.choice(["165/88A", "170/92A", "XL", "36码", "L码", "180/96B"]))
        .replace("{link}", rng.choice(["①", "1", "2", "③", "5", "十二", "8"]))
        .replace("{lic}", "".join(rng.choice(string.digits) for _ in range(14)))
        .replace("{reg}", "20" + "".join(rng.choice(string.digits) for _ in range(9)))
        .replace("{bar}", "".join(rng.choice(string.digits) for _ in range(11)))
        .replace("{h}", num(150, 185))
        .replace("{w}", num(85, 160))
        .replace("{pct2}", percent(rng))
        .replace("{pct}", percent(rng))
        .replace("{fibre}", rng.choice(FIBRES))
    )
