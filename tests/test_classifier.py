"""The shipped int8 classifier through the serving runtime: scores, spans, windows, load errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from moderation.classifier import Classifier, ModelLoadError, ModelOutput
from moderation.settings import DEFAULT_MODEL_DIR
from moderation.types import Label

EFF, DIV = Label.EFFICACY, Label.DIVERSION


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(DEFAULT_MODEL_DIR)


def flagged(clf: Classifier, out: ModelOutput) -> set[Label]:
    return {lab for lab in (EFF, DIV) if out.scores.get(lab) >= clf.thresholds[lab]}


# (text, expected labels, a phrase a span of that label must overlap). Written for these tests.
CASES = [
    # medical and guaranteed claims
    ("这个药膏用了能根治湿疹 真的", {EFF}, "根治湿疹"),
    ("家人们 喝了它降血压 药都不用吃了", {EFF}, "降血压"),
    ("我们家这款面霜三天美白 立竿见影", {EFF}, "美白"),
    # absolute terms
    ("这个价格全网最低 没有之一", {EFF}, "全网最低"),
    # diversion in disguise
    ("想要的加我微信 xiaomei_88 给你便宜", {DIV}, "微信"),
    ("有问题扣扣联系我", {DIV}, "扣扣联系我"),
    ("拍之前先加我 v信上给你发图", {DIV}, "v信"),
    # no claim, no contact
    ("这款毛衣是V领的 百分之百纯棉", set(), None),
    ("支持微信支付 顺丰包邮", set(), None),
    ("今天最后一单了 赶紧拍", set(), None),
    ("面霜很保湿 质地清爽 敏感肌可用", set(), None),
    ("第一次来直播间的宝宝点个关注", set(), None),
    ("", set(), None),
]


@pytest.mark.parametrize(("text", "labels", "phrase"), CASES)
def test_scores_and_spans(clf: Classifier, text: str, labels: set[Label], phrase: str | None) -> None:
    (out,) = clf.predict([text])
    assert flagged(clf, out) == labels
    for span in out.spans:
        assert 0 <= span.start < span.end <= len(text)
        assert 0.0 <= span.score <= 1.0
    if phrase:
        start = text.index(phrase)
        lab = next(iter(labels))
        assert any(s.label is lab and s.start < start + len(phrase) and s.end > start for s in out.spans)


def test_batch_and_single_agree(clf: Classifier) -> None:
    texts = [case.values[0] if hasattr(case, "values") else case[0] for case in CASES]
    batched = clf.predict(texts)
    for text, out in zip(texts, batched, strict=True):
        (single,) = clf.predict([text])
        # Dynamic int8 quantizes activations per batch, so padding may move a score a little (up to
    # 0.04 seen with the shipped model on these texts).
        assert single.scores.efficacy == pytest.approx(out.scores.efficacy, abs=0.05)
        assert single.scores.diversion == pytest.approx(out.scores.diversion, abs=0.05)


def test_long_text_is_scored_in_windows(clf: Classifier) -> None:
    phrase = "想要的加我微信 xiaomei_88"
    text = "今天福利多多 " * 12 + phrase  # the contact lies beyond the first window
    assert len(text) > clf.max_len
    (out,) = clf.predict([text])
    assert out.scores.diversion >= clf.thresholds[DIV]
    at = text.index(phrase)
    assert any(s.label is DIV and s.start < at + len(phrase) and s.end > at for s in out.spans)


def test_offsets_index_the_original_text(clf: Classifier) -> None:
    # Invisible and emoji characters are dropped by the tokenizer, offsets still index the input.
    text = "姐妹们 加我薇❤信\u200b abc123"
    (out,) = clf.predict([text])
    assert out.scores.diversion >= clf.thresholds[DIV]
    assert all(0 <= s.start < s.end <= len(text) for s in out.spans)


# Texts whose characters normalize in every way the tokenizer knows: full-width letters and digits,
# ellipses that become three tokens, emoji and invisible characters that become none, keycaps and
# variation selectors, a combining accent, Hangul syllables and jamo that compose, ligatures.
TRICKY = [
    "加我ＶＸ：ａｂｃ１２３ 发你…",
    "薇❤信\u200b号 1️⃣3️⃣8️⃣",
    "cafe\u0301 和 café 不一样",
    "가격 \u1100\u1161 ①②③ ﬁne ㍻ Ⅻ",
    "İstanbul 的 KELVIN \u212a 和全角　空格\t制表",
    "扣扣 \U0001F427 👉🏻 微❤️信",
    "声调符号\u302b\u302a 叠在一起",
    "",
    "   ",
]


@pytest.mark.parametrize("text", TRICKY + [text for text, _, _ in CASES])
def test_encoding_matches_the_tokenizer(clf: Classifier, text: str) -> None:
    """The classifier remembers each character's tokens instead of encoding every text anew; the
    ids and offsets must be exactly the tokenizer's, or the model reads other text than it was
    trained on."""
    want = clf._tokenizer.encode(text, add_special_tokens=False)
    for _ in range(2):  # the second time from memory
        ids, offsets = clf._encode(text)
        assert ids == want.ids
        assert (offsets or [(k, k + 1) for k in range(len(ids))]) == want.offsets


def test_describes_itself(clf: Classifier) -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    assert clf.version == meta["version"] and clf.version.startswith("cbert-")
    assert set(clf.thresholds) == {EFF, DIV}
    assert (DEFAULT_MODEL_DIR / "model.onnx").stat().st_size <= 30 * 2**20
    # The build refuses a model whose int8 and fp32 outputs disagree beyond the stated tolerance.
    agreement = meta["figures"]["int8_vs_fp32"]
    assert agreement["max_abs"] <= agreement["tolerance_max_abs"]
    assert agreement["mean_abs"] <= agreement["tolerance_mean_abs"]


# ------------------------------------------------------------------------------------------------
# Load errors


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    return target


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model description not found"):
        Classifier(tmp_path / "nowhere")


def test_corrupt_onnx(tmp_path: Path) -> None:
    model = _copy(tmp_path)
    (model / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load it"):
        Classifier(model)


def test_missing_onnx(tmp_path: Path) -> None:
    model = _copy(tmp_path)
    (model / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match="model not found"):
        Classifier(model)


def test_corrupt_tokenizer(tmp_path: Path) -> None:
    model = _copy(tmp_path)
    (model / "tokenizer.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a valid tokenizer"):
        Classifier(model)


def test_bad_description(tmp_path: Path) -> None:
    model = _copy(tmp_path)
    (model / "model.json").write_text('{"version": "x"}', encoding="utf-8")
    with pytest.raises(ModelLoadError, match="missing"):
        Classifier(model)


@pytest.mark.parametrize("key", ["model_only_min", "heard_min"])
@pytest.mark.parametrize("floor", [1.5, -0.1, "high"])
def test_bad_decision_bar(tmp_path: Path, key: str, floor: object) -> None:
    model = _copy(tmp_path)
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    (model / "model.json").write_text(json.dumps({**meta, key: floor}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=f"{key} must be a probability"):
        Classifier(model)


@pytest.mark.parametrize("veto", [{"absolute_term": 1.5}, {"no_such_family": 0.1}])
def test_bad_veto_bars(tmp_path: Path, veto: dict) -> None:
    model = _copy(tmp_path)
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    (model / "model.json").write_text(json.dumps({**meta, "veto_below": veto}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="veto_below"):
        Classifier(model)


@pytest.mark.parametrize("text", ["想要的加我微信 xiaomei_88 给你便宜", "薇❤信\u200b号 1️⃣3️⃣8️⃣", "今天福利多多 " * 12, ""])
def test_token_marks_cover_each_character_and_give_the_verdict(clf: Classifier, text: str) -> None:
    """One row of token-head probabilities per character of the text as given (a character with no
    token, a space or an invisible one, gets zeros); the verdict on a phrase is the higher of the
    sentence score and the phrase's highest row."""
    (out,) = clf.predict([text])
    assert out.marks is not None and out.marks.shape == (len(text), 2)
    for span in out.spans:
        want = max(span.score, out.scores.get(span.label))
        assert out.verdict(span.label, span.start, span.end) == pytest.approx(want, abs=1e-6)
    if text.strip():
        want = max(float(out.marks[:, 1].max()), out.scores.diversion)
        assert out.verdict(DIV, 0, len(text)) == pytest.approx(want)


def test_serving_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from moderation.classifier import Classifier\n"
        "from moderation.settings import DEFAULT_MODEL_DIR\n"
        "Classifier(DEFAULT_MODEL_DIR).predict(['加我微信'])\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
