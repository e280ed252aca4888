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
