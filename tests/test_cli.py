"""The check and eval commands, run in-process through the real entry point (rules layer)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from moderation.cli.main import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(argv)
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "label", "fragment"),
    [
        # disguised WeChat, offsets point into the original text
        ("想要的加我薇❤信 abc123", "diversion", "薇❤信"),
        # medical claim for an ordinary food
        ("这个茶喝了能根治高血压", "efficacy", "根治"),
    ],
)
def test_check_json_flags_and_points_into_the_original(text, label, fragment, capsys):
    code, out, _ = run_cli(["check", text, "--layers", "rules", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert label in result["labels"]
    spans = [text[h["start"]:h["end"]] for h in result["hits"] if h["label"] == label]
    assert any(fragment in s or s in fragment for s in spans), spans
    assert result["reminders"] and result["ruleset_version"]


def test_check_human_output_shows_reminder_and_basis(capsys):
    code, out, _ = run_cli(["check", "全网最低价 还是销量第一的牌子", "--layers", "rules"], capsys)
    assert code == 0
    assert "efficacy" in out and "提醒" in out and "依据" in out


def test_clean_text_passes(capsys):
    code, out, _ = run_cli(["check", "今天这件外套拍一发二 明天发货", "--layers", "rules", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["labels"] == [] and result["action"] == "pass"


def test_jsonl_keeps_order_and_reports_bad_lines(capsys):
    lines = [
        {"id": "a", "text": "私聊我 给你便宜二十"},
        "not json at all",
        {"id": "c", "text": "这款面霜补水保湿", "kind": "copy", "category": "cosmetics"},
        {"id": "d", "text": ""},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    code, out, err = run_cli(["check", "--json", "--layers", "rules"], capsys, stdin=stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [r.get("id") for r in rows] == ["a", None, "c", "d"]
    assert "diversion" in rows[0]["labels"]
    assert "error" in rows[1] and "line 2" in rows[1]["error"]["message"]
    assert rows[2]["labels"] == []
    assert "error" in rows[3]
    assert "line 2" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "加我微信", "--layers", "rules,words"], "unknown layer"),
        (["check", "   ", "--layers", "rules"], "empty"),
        (["check", "--layers", "rules"], "give a TEXT"),
        (["eval", "/nonexistent/file.jsonl", "--layers", "rules"], "no such file"),
    ],
)
def test_mistakes_exit_2_with_a_reason(argv, message, capsys):
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert message in err


def test_eval_reports_per_label_figures(tmp_path, capsys):
    gold = [
        {"id": "1", "text": "加我微信 私下给你便宜", "kind": "transcript", "category": "apparel",
         "labels": ["diversion"], "spans": [{"label": "diversion", "text": "加我微信"}]},
        {"id": "2", "text": "这个枕头能根治失眠", "kind": "transcript", "category": "home",
         "labels": ["efficacy"], "spans": [{"label": "efficacy", "text": "根治失眠"}]},
        {"id": "3", "text": "最近天冷 这件羽绒服含绒量百分之九十", "kind": "transcript", "category": "apparel",
         "labels": [], "spans": []},
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in gold), encoding="utf-8")
    code, out, _ = run_cli(["eval", str(path), "--layers", "rules", "--json"], capsys)
    assert code == 0
    figures = json.loads(out)
    assert figures["diversion"]["tp"] == 1 and figures["efficacy"]["tp"] == 1
    assert figures["clean_fpr"] == 0.0 and figures["span_recall"] == 1.0


def test_eval_names_the_bad_line(tmp_path, capsys):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "1", "text": "你好", "labels": []}\n{"id": "2", "labels": []}\n', encoding="utf-8")
    code, _, err = run_cli(["eval", str(path), "--layers", "rules"], capsys)
    assert code == 2 and ":2:" in err
