"""The training corpus: exact spans, split by phrase family, and the rule packs' own material."""

from __future__ import annotations

import itertools
import random

import pytest

from models.data import packs
from models.data.generate import DIV, EFF, Picker, generate, heldout


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, object]]:
    return list(itertools.islice(generate(4000, seed=5, background=False), 4000))


def test_generation_is_deterministic_for_a_seed() -> None:
    first = [ex.to_json() for _, ex in itertools.islice(generate(300, seed=9, background=False), 300)]
    again = [ex.to_json() for _, ex in itertools.islice(generate(300, seed=9, background=False), 300)]
    assert first == again


def test_labels_are_exactly_the_labels_of_the_spans(corpus) -> None:
    for _, ex in corpus:
        assert set(ex.labels) == {label for label, _, _ in ex.spans}
        for label, start, end in ex.spans:
            assert label in (EFF, DIV)
            assert 0 <= start < end <= len(ex.text) and ex.text[start:end].strip()


def test_both_classes_and_hard_negatives_are_well_represented(corpus) -> None:
    labelled = sum(1 for _, ex in corpus if ex.labels)
    assert 0.35 < labelled / len(corpus) < 0.65
    sources = {ex.source for _, ex in corpus}
    assert {"pack_eff", "pack_div", "pack_exc", "pack_pos", "pack_neg", "neg_eff", "neg_div", "hard"} <= sources


@pytest.mark.parametrize("group", ["pack:medical.cure", "wx:homophone", "frame"])
def test_a_held_out_family_never_reaches_the_training_split(group: str) -> None:
    phrases = [f"短语{i}" for i in range(200)]
    train = {Picker(random.Random(i), test=False).phrase(group, phrases) for i in range(2000)}
    test = {Picker(random.Random(i), test=True).phrase(group, phrases) for i in range(2000)}
    assert train and test and not train & test
    assert all(heldout(f"{group}:{p}") for p in test)


def test_pack_positives_carry_their_rules_label_on_the_rule_layers_span() -> None:
    data = packs.pack_data()
    assert len(data.terms) > 1000 and data.exceptions and data.positives and data.negatives
    for sentence in data.positives:
        pieces = packs.pieces_of(sentence)
        assert "".join(text for text, _ in pieces) == sentence.text
        assert [text for text, label in pieces if label] == [sentence.text[s:e] for _, s, e in sentence.spans]
    assert all(not s.spans for s in data.negatives)


@pytest.mark.parametrize("term", ["第一次", "最好先", "微信支付"])
def test_reviewers_exceptions_become_clean_examples(term: str) -> None:
    assert term in {phrase for _, phrase in packs.pack_data().exceptions}


# Real lines are labelled by who wrote them (models/data/real.py).
@pytest.mark.parametrize(
    ("genre", "text", "labels"),
    [
        # a consumer's praise, a patient's question, a news report: mentions, clean
        ("reviews", "这家店的牛肉面是我吃过最好吃的，下次还来", ()),
        ("medical", "医生说这种病目前没有根治的办法，只能控制", ()),
        ("weibo", "我微信昨天被封了，有事发短信给我吧", ()),
        # a seller's own copy: the rule layer's efficacy findings
        ("products", "全网最好用的修图软件，一键美颜", (EFF,)),
        # a contact word in a seller's copy is a feature, not an offer
        ("products", "新版本支持微信登录和QQ分享", ()),
        # a number or handle in a seller's copy is an offer
        ("products", "门店预约热线13677778888欢迎来电", (DIV,)),
    ],
)
def test_real_lines_are_labelled_by_who_wrote_them(genre, text, labels) -> None:
    from models.data.generate import real_examples
    from models.data.real import RealLine

    got = list(real_examples(random.Random(3), [RealLine(genre, text)]))
    assert len(got) == 1
    assert got[0][1].labels == labels


def test_a_non_sellers_line_with_a_number_is_left_out() -> None:
    from models.data.generate import real_examples
    from models.data.real import RealLine

    assert list(real_examples(random.Random(3), [RealLine("weibo", "有事打我手机13677778888，周末都在")])) == []


def test_committed_real_lines_are_split_by_text_and_never_empty() -> None:
    from models.data.real import real_lines

    lines = real_lines()
    assert len(lines) > 50_000 and all(line.text.strip() for line in lines)
    share = sum(line.heldout for line in lines) / len(lines)
    assert 0.10 < share < 0.20
