"""The audit end to end on the local engine: split violations, broken files, resume, workers, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from audit_support import OPTIONS, read_findings, sample_archive, settings, write

from moderation.audit.compare import compare, format_comparison
from moderation.audit.judge import AuditOptions, audit_transcript
from moderation.audit.readers import InputError, parse
from moderation.audit.run import STREAMS_DIR, result_path, run_audit
from moderation.cli.main import main
from moderation.engine import build_moderator
from moderation.settings import Settings

# (stream, cues, start, end, labels, text) of every violation in the sample archive.
EXPECTED = [
    ("laowang/honey_0915.srt", [2, 3], 602.2, 606.0, ["efficacy"], "根治"),
    ("laowang/honey_0915.srt", [4], 606.5, 608.0, ["efficacy"], "全网最低价"),
    ("laowang/honey_0915.srt", [5, 6], 608.1, 612.0, ["diversion"], "加我微信"),
    ("laozhou/tea_0928.jsonl", [4], 106.5, 108.0, ["efficacy"], "治好胃病"),
    ("taozi/cream_0921.vtt.gz", [2], 7.5, 9.0, ["efficacy"], "根治"),
    ("xiaopang/toys_1002.txt", [2], None, None, ["efficacy"], "全网最低价"),
]


def audit(root: Path, out: Path, **kwargs: object):
    return run_audit([root], out, options=OPTIONS, settings=settings(), **kwargs)  # type: ignore[arg-type]


def brief(findings: list[dict]) -> list[tuple]:
    return [(f["stream"], f["cues"], f["start"], f["end"], f["labels"], f["text"]) for f in findings]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return sample_archive(tmp_path / "in")


def test_every_violation_found_once_split_ones_with_both_cues(archive: Path, tmp_path: Path) -> None:
    run = audit(archive, tmp_path / "out")
    findings = read_findings(tmp_path / "out")
    assert brief(findings) == [tuple(e) for e in EXPECTED]
    honey = findings[0]
    assert (
        honey["streamer"] == "老王" and honey["rule"] == "audit.cure" and honey["category"] == "medical_claim"
    )
    assert honey["sentence"][slice(*honey["span"])] == "根治"
    assert honey["reminder"].startswith("主播您好") and honey["basis"] == "《广告法》第十七条"
    assert run.judged == 6 and run.reused == 0


def test_the_audit_judges_as_the_live_window_does(archive: Path, tmp_path: Path) -> None:
    from moderation.audit.readers import discover, read_source
    from moderation.engine import build_moderator
    from moderation.streams import check_segment

    moderator = build_moderator(settings())
    [source] = [s for s in discover([archive]) if s.name == "laowang/honey_0915.srt"]
    live, window = set(), None
    for cue in read_source(source).cues:
        segment, window = check_segment(moderator, window, cue.text, layers=OPTIONS.layers, now=cue.start)
        live |= {(cue.number, hit.rule) for hit in segment.result.hits}
    assert live == {(3, "audit.cure"), (4, "audit.lowest_price"), (5, "audit.add_me"), (6, "audit.wechat")}
    audit(archive, tmp_path / "out")
    findings = [f for f in read_findings(tmp_path / "out") if f["stream"] == source.name]
    # every live hit is in a finding that holds its cue, and the audit found nothing live did not
    assert all(any(n in f["cues"] and rule in f["rules"] for f in findings) for n, rule in live)
    assert {rule for f in findings for rule in f["rules"]} == {rule for _, rule in live}


def test_words_grown_by_another_rule_in_the_next_cue_are_one_finding(archive: Path, tmp_path: Path) -> None:
    # 加我 fires alone in cue 5 (audit.add_me); with cue 6, 加我微信 (audit.wechat) covers it.
    audit(archive, tmp_path / "out")
    [wechat] = [f for f in read_findings(tmp_path / "out") if "diversion" in f["labels"]]
    assert (wechat["cues"], wechat["text"], wechat["rules"]) == (
        [5, 6],
        "加我微信",
        ["audit.add_me", "audit.wechat"],
    )
    assert wechat["rule"] == "audit.wechat" and wechat["severity"] == "high"


def test_words_one_rule_grows_into_the_next_cue_widen_its_finding() -> None:
    moderator = build_moderator(Settings(rules_only=True))  # the shipped packs: 加我 and 加我好友
    transcript = parse("大家晚上好\n要优惠的加我\n好友 送你小样\n".encode(), "txt")
    findings = audit_transcript(moderator, transcript, category=None, options=AuditOptions())
    assert [(f["cues"], f["text"], f["rule"]) for f in findings] == [([2, 3], "加我好友", "private_deal.add_first")]


def test_claims_of_one_label_said_back_to_back_are_one_finding(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.txt", "这个根治全网最低价\n")
    audit(tmp_path / "in", tmp_path / "out")
    assert [(f["text"], f["rules"]) for f in read_findings(tmp_path / "out")] == [
        ("根治全网最低价", ["audit.cure", "audit.lowest_price"])
    ]


def test_broken_files_are_reported_in_the_summary_and_the_run_goes_on(archive: Path, tmp_path: Path) -> None:
    audit(archive, tmp_path / "out")
    rows = {r["stream"]: r for r in csv.DictReader((tmp_path / "out" / "summary.csv").open(encoding="utf-8"))}
    assert set(rows) == {e[0] for e in EXPECTED} | {"broken/empty.srt", "broken/cut.srt.gz"}
    assert rows["broken/empty.srt"]["errors"] == "empty file: no cues"
    assert rows["broken/cut.srt.gz"]["errors"].startswith("corrupt gzip data")
    honey = rows["laowang/honey_0915.srt"]
    assert (honey["streamer"], honey["category"], honey["segments"], honey["duration_s"]) == (
        "老王",
        "agri",
        "6",
        "12.0",
    )
    assert (honey["findings"], honey["findings_efficacy"], honey["findings_diversion"]) == ("3", "2", "1")
    assert honey["worst_severity"] == "high" and honey["errors"] == ""
    assert rows["xiaopang/toys_1002.txt"]["encoding"] == "gbk"
    assert rows["taozi/cream_0921.vtt.gz"]["streamer"] == "桃子"


def test_resume_reuses_finished_streams_without_duplicates(archive: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    audit(archive, full)
    # An interrupted run: two streams finished (their results on disk), one torn temp file,
    # no report yet.
    out = tmp_path / "out"
    for stream in ("laowang/honey_0915.srt", "broken/empty.srt"):
        target = result_path(out, stream)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(result_path(full, stream).read_bytes())
    (out / STREAMS_DIR / ".abc.json.x.tmp").write_text('{"stream": "laozh', encoding="utf-8")
    run = audit(archive, out, resume=True)
    assert (run.reused, run.judged) == (2, 4)
    assert read_findings(out) == read_findings(full)
    # A second resume judges nothing again.
    again = audit(archive, out, resume=True)
    assert (again.reused, again.judged) == (6, 0)
    assert read_findings(out) == read_findings(full)


def test_resume_judges_again_a_stream_whose_file_changed(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    audit(archive, out)
    write(archive / "xiaopang" / "toys_1002.txt", "小朋友们好\n这个积木加我微信买\n".encode("gbk"))
    run = audit(archive, out, resume=True)
    assert run.judged == 1
    toy = [f for f in read_findings(out) if f["stream"] == "xiaopang/toys_1002.txt"]
    assert [f["text"] for f in toy] == ["加我微信"]


def test_resume_judges_again_what_an_older_ruleset_judged(archive: Path, tmp_path: Path) -> None:
    from moderation.engine import build_moderator

    out = tmp_path / "out"
    audit(archive, out)
    for path in (out / STREAMS_DIR).glob("*.json"):
        path.write_text(
            path.read_text(encoding="utf-8").replace('"ruleset_version": "', '"ruleset_version": "old')
        )
    run = audit(archive, out, resume=True, moderator=build_moderator(settings()))
    assert (run.reused, run.judged) == (0, 6)


def test_a_fresh_run_forgets_old_results(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    audit(archive, out)
    (archive / "laozhou" / "tea_0928.jsonl").unlink()
    audit(archive, out)
    assert "laozhou/tea_0928.jsonl" not in {f["stream"] for f in read_findings(out)}
    assert len(list((out / STREAMS_DIR).glob("*.json"))) == 5


@pytest.mark.slow
def test_two_worker_processes_give_the_same_findings(archive: Path, tmp_path: Path) -> None:
    audit(archive, tmp_path / "one", workers=1)
    run = audit(archive, tmp_path / "two", workers=2)
    assert run.judged == 6
    assert read_findings(tmp_path / "two") == read_findings(tmp_path / "one")
    assert (tmp_path / "two" / "summary.csv").read_text() == (tmp_path / "one" / "summary.csv").read_text()


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        audit(tmp_path / "nowhere", tmp_path / "out")


def test_the_output_directory_inside_the_input_is_skipped(archive: Path) -> None:
    audit(archive, archive / "report")
    run = audit(archive, archive / "report")
    assert len(run.reports) == 6


# --- compare ------------------------------------------------------------------------------------


def line(
    stream: str,
    start: float | None,
    end: float | None,
    labels: list[str],
    cues: list[int],
    split: bool = False,
):
    return {
        "stream": stream,
        "start": start,
        "end": end,
        "labels": labels,
        "cues": cues,
        "split": split,
        "text": "x",
    }


@pytest.mark.parametrize(
    ("finding", "expected", "found"),
    [
        # same stream, labels intersect, times overlap
        (
            line("a.srt", 10.0, 12.0, ["efficacy"], [3]),
            line("a.srt", 11.0, 12.5, ["efficacy", "diversion"], [3]),
            1,
        ),
        # another label
        (line("a.srt", 10.0, 12.0, ["diversion"], [3]), line("a.srt", 10.0, 12.0, ["efficacy"], [3]), 0),
        # adjacent cue, no overlap
        (line("a.srt", 8.0, 9.9, ["efficacy"], [2]), line("a.srt", 10.0, 12.0, ["efficacy"], [3]), 0),
        # another stream
        (line("b.srt", 10.0, 12.0, ["efficacy"], [3]), line("a.srt", 10.0, 12.0, ["efficacy"], [3]), 0),
        # a split line needs one finding over both cues
        (
            line("a.srt", 10.0, 14.0, ["efficacy"], [3, 4]),
            line("a.srt", 10.0, 14.0, ["efficacy"], [3, 4], True),
            1,
        ),
        (
            line("a.srt", 12.1, 14.0, ["efficacy"], [4]),
            line("a.srt", 10.0, 14.0, ["efficacy"], [3, 4], True),
            0,
        ),
        # no times (.txt): the cues decide
        (line("t.txt", None, None, ["efficacy"], [7]), line("t.txt", None, None, ["efficacy"], [7]), 1),
        (line("t.txt", None, None, ["efficacy"], [6]), line("t.txt", None, None, ["efficacy"], [7]), 0),
    ],
)
def test_compare_matching(finding: dict, expected: dict, found: int) -> None:
    result = compare([finding], [expected])
    assert (result["found"], result["false_alarms"]) == (found, 1 - found)


def test_compare_counts_duplicates_and_formats() -> None:
    expected = [line("a.srt", 10.0, 12.0, ["efficacy"], [3])]
    findings = [line("a.srt", 10.0, 12.0, ["efficacy"], [3]), line("a.srt", 11.0, 12.0, ["efficacy"], [3])]
    result = compare(findings, expected)
    assert (result["found"], result["found_more_than_once"], result["false_alarms"]) == (1, 1, 0)
    assert format_comparison(result).startswith("found 1/1 expected violations")
    assert compare([], [])["false_alarm_share"] == 0.0


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def test_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command builds its settings from the environment: point it at the test pack."""
    monkeypatch.setenv("MODERATION_RULES_DIR", str(settings().rules_dir))


@pytest.mark.usefixtures("test_rules")
def test_cli_audits_and_compares(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = tmp_path / "expected.jsonl"
    expected.write_text(
        "".join(
            json.dumps(line(s, a, b, labels, cues, split=len(cues) > 1), ensure_ascii=False) + "\n"
            for s, cues, a, b, labels, _ in EXPECTED
        ),
        encoding="utf-8",
    )
    status = main(
        ["audit", str(archive), "--out", str(tmp_path / "out"), "--layers", "rules", "--workers", "1",
         "--quiet", "--expected", str(expected)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert "findings: 6 (efficacy 5, diversion 1)" in out
    assert "found 6/6 expected violations (split: 2/2; found more than once: 0)" in out
    assert "false alarms: 0 of 6 findings" in out
    assert "broken/empty.srt: empty file: no cues" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/dir"], "no such file or directory"),
        (["{archive}/laowang/honey_0915.meta.json"], "not a transcript"),
        (["{archive}", "--workers", "0"], "--workers must be at least 1"),
        (["{archive}", "--expected", "/no/such.jsonl"], "no such file"),
        (["{archive}", "--layers", "magic"], "unknown layer"),
    ],
)
@pytest.mark.usefixtures("test_rules")
def test_cli_bad_arguments_exit_non_zero_with_a_message(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["audit", *(a.format(archive=archive) for a in args), "--out", str(tmp_path / "out"), "--quiet"]
    if "--layers" not in argv:
        argv += ["--layers", "rules"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
