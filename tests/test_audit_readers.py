"""Transcript readers: every format, gzip, BOM, GBK, broken files, metadata, discovery."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from moderation.audit.readers import (
    Cue,
    InputError,
    TranscriptError,
    decode,
    discover,
    parse,
    read_source,
)
from moderation.types import ProductCategory

SRT = """1
00:00:01,000 --> 00:00:02,500
家人们晚上好 欢迎来到直播间

2
00:00:02,600 --> 00:00:04,000
这款面霜主打保湿
第二行字幕

3
01:02:03,040 --> 01:02:05,100
库存还剩一百单
"""

VTT = """WEBVTT
Kind: captions

NOTE 这里是备注 不是字幕

intro
00:01.000 --> 00:02.500 align:start
<v 主播>宝宝们看这个颜色</v>

00:00:03.000 --> 00:00:04.250
显白又显瘦 &amp; 不挑皮
"""

JSONL = (
    '{"start": 10.0, "end": 12.5, "text": "叔叔阿姨们下午好"}\n'
    "\n"
    '{"start": 12.5, "end": 14.0, "text": "这个按摩仪 肩颈放松"}\n'
)

TXT = "老铁们好 点个关注\n\n今天上新 一件包邮\n"


def cues(data: bytes | str, fmt: str) -> list[Cue]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return list(parse(raw, fmt).cues)


# --- formats -----------------------------------------------------------------------------------


def test_srt_times_numbers_and_multiline_text() -> None:
    got = cues(SRT, "srt")
    assert [c.number for c in got] == [1, 2, 3]
    assert (got[0].start, got[0].end) == (1.0, 2.5)
    assert got[1].text == "这款面霜主打保湿 第二行字幕"
    assert (got[2].start, got[2].end) == (3723.04, 3725.1)


def test_vtt_header_notes_identifiers_tags_and_entities() -> None:
    got = cues(VTT, "vtt")
    assert [(c.number, c.start, c.end) for c in got] == [(1, 1.0, 2.5), (2, 3.0, 4.25)]
    assert got[0].text == "宝宝们看这个颜色"
    assert got[1].text == "显白又显瘦 & 不挑皮"


def test_jsonl_cue_numbers_are_line_numbers() -> None:
    got = cues(JSONL, "jsonl")
    assert [(c.number, c.start, c.text) for c in got] == [
        (1, 10.0, "叔叔阿姨们下午好"),
        (3, 12.5, "这个按摩仪 肩颈放松"),
    ]


def test_txt_has_no_times_and_line_numbers() -> None:
    got = cues(TXT, "txt")
    assert [(c.number, c.start, c.end, c.text) for c in got] == [
        (1, None, None, "老铁们好 点个关注"),
        (3, None, None, "今天上新 一件包邮"),
    ]


def test_jsonl_bad_lines_are_reported_and_the_rest_read() -> None:
    transcript = parse('{"start": 1, "end": 2, "text": "你好"}\nnot json\n{"start": 3}\n'.encode(), "jsonl")
    assert [c.text for c in transcript.cues] == ["你好"]
    assert len(transcript.problems) == 2 and transcript.problems[0].startswith("line 2:")


# --- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        # UTF-8 with a byte-order mark
        ("\ufeff" + TXT, "utf-8-sig"),
        # plain UTF-8
        (TXT, "utf-8"),
    ],
)
def test_utf8_with_and_without_bom(data: str, encoding: str) -> None:
    raw = data.encode("utf-8")
    assert decode(raw)[1] == encoding
    assert cues(raw, "txt")[0].text == "老铁们好 点个关注"


def test_bom_before_srt_and_webvtt_header() -> None:
    assert cues(("\ufeff" + SRT).encode(), "srt")[0].text == "家人们晚上好 欢迎来到直播间"
    assert len(cues(("\ufeff" + VTT).encode(), "vtt")) == 2


def test_gbk_encoded_file() -> None:
    raw = SRT.encode("gbk")
    transcript = parse(raw, "srt")
    assert transcript.encoding == "gbk"
    assert transcript.cues[0].text == "家人们晚上好 欢迎来到直播间"


def test_utf16_with_bom() -> None:
    assert cues(TXT.encode("utf-16"), "txt")[1].text == "今天上新 一件包邮"


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        # the empty file and a file of blank lines
        (b"", "txt", "empty file"),
        (b"\n \n\t\n", "srt", "empty file"),
        # binary junk
        (bytes(range(256)) * 4, "srt", "binary data"),
        # an SRT without a single timing line
        ("就是一段话\n没有时间轴\n".encode(), "srt", "no readable cues"),
        # a VTT without its header
        (SRT.encode(), "vtt", "WEBVTT"),
        # a JSONL in which no line is a cue
        (b"[1, 2]\n{}\n", "jsonl", "no readable cues"),
        # Shift-JIS is neither UTF-8 nor GBK: refuse instead of auditing mojibake
        ("ライブ配信のテスト。お買い得です！".encode("shift_jis") * 20, "txt", "cannot decode"),
    ],
)
def test_unreadable_files_raise_with_a_reason(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(TranscriptError, match=message):
        parse(data, fmt)


# --- files, gzip and discovery -----------------------------------------------------------------


def write(path: Path, data: str | bytes, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def test_discover_recursive_with_gzip_and_relative_names(tmp_path: Path) -> None:
    write(tmp_path / "a.srt", SRT)
    write(tmp_path / "day1" / "b.vtt.gz", VTT, gz=True)
    write(tmp_path / "day1" / "deep" / "c.jsonl.gz", JSONL, gz=True)
    write(tmp_path / "day1" / "d.txt", TXT)
    write(tmp_path / "day1" / "notes.md", "不是字幕")
    write(tmp_path / "day1" / "manifest.jsonl", '{"stream": "d.txt", "streamer": "小胖"}\n')
    write(tmp_path / ".hidden" / "e.srt", SRT)
    sources = discover([tmp_path])
    assert [(s.name, s.format, s.compressed) for s in sources] == [
        ("a.srt", "srt", False),
        ("day1/b.vtt.gz", "vtt", True),
        ("day1/d.txt", "txt", False),
        ("day1/deep/c.jsonl.gz", "jsonl", True),
    ]
    assert [c.text for c in read_source(sources[1]).cues][0] == "宝宝们看这个颜色"
    assert read_source(sources[3]).cues[-1].number == 3


def test_a_file_given_directly_is_named_by_its_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "x" / "show.srt.gz", SRT, gz=True)
    [source] = discover([path])
    assert source.name == "show.srt.gz"


def test_corrupt_gzip_is_a_transcript_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.srt.gz", gzip.compress(SRT.encode())[:40])
    [source] = discover([tmp_path])
    with pytest.raises(TranscriptError, match="corrupt gzip"):
        read_source(source)
    assert path.exists()


def test_output_directory_inside_the_input_is_not_audited(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", TXT)
    write(tmp_path / "out" / "findings.jsonl", '{"stream": "a.txt"}\n')
    assert [s.name for s in discover([tmp_path], exclude=[tmp_path / "out"])] == ["a.txt"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing", "no such file"), ("notes.md", "not a transcript")],
)
def test_bad_paths_are_input_errors(tmp_path: Path, name: str, message: str) -> None:
    write(tmp_path / "notes.md", "x")
    with pytest.raises(InputError, match=message):
        discover([tmp_path / name])


# --- metadata ----------------------------------------------------------------------------------


def test_sidecar_beside_the_file(tmp_path: Path) -> None:
    write(tmp_path / "show.srt.gz", SRT, gz=True)
    write(
        tmp_path / "show.meta.json",
        json.dumps({"streamer": "桃子", "category": "cosmetics"}, ensure_ascii=False),
    )
    [source] = discover([tmp_path])
    assert (source.meta.streamer, source.meta.category, source.meta.problems) == (
        "桃子",
        ProductCategory.COSMETICS,
        (),
    )


def test_manifest_csv_applies_to_files_below_it(tmp_path: Path) -> None:
    write(tmp_path / "manifest.csv", "stream,streamer,category\nday1/a.srt,老王,agri\nb.txt,小胖,toys\n")
    write(tmp_path / "day1" / "a.srt", SRT)
    write(tmp_path / "b.txt", TXT)
    write(tmp_path / "c.txt", TXT)
    by_name = {s.name: s.meta for s in discover([tmp_path])}
    assert (by_name["day1/a.srt"].streamer, by_name["day1/a.srt"].category) == ("老王", ProductCategory.AGRI)
    # an unknown category is reported, not guessed
    assert by_name["b.txt"].streamer == "小胖" and by_name["b.txt"].category is None
    assert "unknown product category 'toys'" in by_name["b.txt"].problems[0]
    assert by_name["c.txt"].streamer is None and by_name["c.txt"].problems == ()


def test_sidecar_wins_over_manifest_and_broken_sidecar_is_reported(tmp_path: Path) -> None:
    write(
        tmp_path / "manifest.jsonl",
        '{"stream": "a.txt", "streamer": "甲"}\n{"stream": "b.txt", "streamer": "乙"}\n',
    )
    write(tmp_path / "a.txt", TXT)
    write(tmp_path / "a.meta.json", '{"streamer": "丙", "category": "food"}')
    write(tmp_path / "b.txt", TXT)
    write(tmp_path / "b.meta.json", "{broken")
    by_name = {s.name: s.meta for s in discover([tmp_path])}
    assert (by_name["a.txt"].streamer, by_name["a.txt"].category) == ("丙", ProductCategory.FOOD)
    assert by_name["b.txt"].streamer is None and "b.meta.json" in by_name["b.txt"].problems[0]
