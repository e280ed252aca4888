"""Stream reports → findings.jsonl, summary.csv and a self-contained report.html (no CDN).

Everything shown in the page is escaped here, on the server side; the page's script only hides
and shows what is already there.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from moderation.types import Label, ProductCategory, RuleCategory, Severity

FINDING_FIELDS = (
    "stream", "streamer", "start", "end", "labels", "text", "cues", "rule", "category", "severity",
    "action", "source", "score", "rules", "reminder", "suggestion", "basis", "reminder_sent",
    "product_category", "sentence", "span",
)  # fmt: skip
SUMMARY_FIELDS = (
    "stream", "streamer", "category", "format", "encoding", "duration_s", "segments", "findings",
    *(f"findings_{label.value}" for label in Label), "worst_severity", "errors",
)  # fmt: skip
UNKNOWN_STREAMER = "(未标注)"


def write_all(out: Path, reports: Sequence[dict[str, Any]]) -> dict[str, Path]:
    from moderation.audit.run import write_atomic

    files = {
        "findings": out / "findings.jsonl",
        "summary": out / "summary.csv",
        "report": out / "report.html",
    }
    write_atomic(files["findings"], findings_jsonl(reports))
    write_atomic(files["summary"], summary_csv(reports))
    write_atomic(files["report"], report_html(reports))
    return files


def findings(reports: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every finding of every stream, with its stream and streamer, in stream then speech order."""
    rows = []
    for report in sorted(reports, key=lambda r: r["stream"]):
        for finding in report["findings"]:
            row = {"stream": report["stream"], "streamer": report.get("streamer"), **finding}
            rows.append({k: row.get(k) for k in FINDING_FIELDS})
    return rows


def findings_jsonl(reports: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in findings(reports))


def worst_severity(report: dict[str, Any]) -> str:
    ranks = [Severity(f["severity"]).rank for f in report["findings"] if f.get("severity")]
    return Severity(("low", "medium", "high")[max(ranks)]).value if ranks else ""


def summary_row(report: dict[str, Any]) -> dict[str, Any]:
    per_label = {label.value: 0 for label in Label}
    for finding in report["findings"]:
        for label in finding["labels"]:
            per_label[label] += 1
    return {
        "stream": report["stream"],
        "streamer": report.get("streamer") or "",
        "category": report.get("category") or "",
        "format": report.get("format") or "",
        "encoding": report.get("encoding") or "",
        "duration_s": "" if report.get("duration") is None else report["duration"],
        "segments": report.get("segments", 0),
        "findings": len(report["findings"]),
        **{f"findings_{label}": n for label, n in per_label.items()},
        "worst_severity": worst_severity(report),
        "errors": " | ".join(report.get("errors", [])),
    }


def summary_csv(reports: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for report in sorted(reports, key=lambda r: r["stream"]):
        writer.writerow(summary_row(report))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# report.html

LABEL_NAMES = {"efficacy": "夸大功效", "diversion": "站外导流"}
CATEGORY_NAMES = {
    "absolute_term": "绝对化用语",
    "medical_claim": "医疗用语",
    "health_food_claim": "保健功能",
    "cosmetic_overclaim": "化妆品功效",
    "guaranteed_result": "保证效果",
    "false_authority": "虚假权威",
    "contact_wechat": "微信",
    "contact_qq": "QQ",
    "contact_phone": "电话",
    "contact_other": "其他联系方式",
    "private_deal": "私下交易",
}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _where(finding: dict[str, Any]) -> str:
    cues = "、".join(str(c) for c in finding["cues"])
    if finding.get("start") is None:
        return f"第 {cues} 句"
    return f"{_clock(finding['start'])}–{_clock(finding['end'])} · 第 {cues} 句"


def _highlighted(finding: dict[str, Any]) -> str:
    sentence = finding.get("sentence") or finding["text"]
    start, end = finding.get("span") or (0, len(sentence))
    return f"{escape(sentence[:start])}<mark>{escape(sentence[start:end])}</mark>{escape(sentence[end:])}"


def _totals(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    rows = findings(reports)
    return {
        "streams": len(reports),
        "hours": _hours(sum(r.get("duration") or 0 for r in reports)),
        "segments": sum(r.get("segments", 0) for r in reports),
        "findings": len(rows),
        **{label.value: sum(1 for f in rows if label.value in f["labels"]) for label in Label},
        "errors": sum(1 for r in reports if r.get("errors")),
    }


def _streamer_rows(reports: Sequence[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        groups[report.get("streamer") or UNKNOWN_STREAMER].append(report)
    lines = []
    for streamer, group in sorted(
        groups.items(), key=lambda kv: (-sum(len(r["findings"]) for r in kv[1]), kv[0])
    ):
        t = _totals(group)
        worst = max((worst_severity(r) for r in group), key=lambda s: Severity(s).rank if s else -1)
        lines.append(
            f"<tr><td>{escape(streamer)}</td><td>{t['streams']}</td><td>{t['hours']}</td>"
            f"<td>{t['findings']}</td><td>{t['efficacy']}</td><td>{t['diversion']}</td>"
            f"<td class='sev-{escape(worst)}'>{escape(worst or '—')}</td></tr>"
        )
    return "\n".join(lines)


def _finding_html(finding: dict[str, Any], index: int) -> str:
    labels = " ".join(finding["labels"])
    badges = "".join(
        f"<span class='badge {escape(label)}'>{escape(LABEL_NAMES.get(label, label))}</span>"
        for label in finding["labels"]
    )
    category = finding.get("category") or ""
    sent = "已发送提醒" if finding.get("reminder_sent") else "冷却期内，未重复提醒"
    suggestion = (
        f"<div class='suggestion'>建议：{escape(finding['suggestion'])}</div>"
        if finding.get("suggestion")
        else ""
    )
    basis = f"<div class='basis'>依据：{escape(finding['basis'])}</div>" if finding.get("basis") else ""
    return (
        f"<li class='finding' id='f{index}' data-labels='{escape(labels)}' data-category='{escape(category)}'>"
        f"<div class='meta'>{badges}<span class='cat'>{escape(CATEGORY_NAMES.get(category, category))}</span>"
        f"<span class='when'>{escape(_where(finding))}</span><span class='rule'>{escape(finding.get('rule') or '')}</span>"
        f"<span class='sev sev-{escape(finding.get('severity') or '')}'>{escape(finding.get('severity') or '')}</span></div>"
        f"<div class='sentence'>{_highlighted(finding)}</div>"
        f"<div class='reminder'><span class='sent'>{sent}</span>{escape(finding.get('reminder') or '')}{suggestion}{basis}</div>"
        "</li>"
    )


def _timeline(report: dict[str, Any], first_index: int) -> str:
    marks = []
    duration, origin = report.get("duration"), report.get("first_start")
    for i, finding in enumerate(report["findings"]):
        if duration and origin is not None and finding.get("start") is not None:
            left = (finding["start"] - origin) / duration
            width = max((finding["end"] - finding["start"]) / duration, 0.004)
        else:
            left = (finding["cues"][0] - 1) / max(report.get("segments") or 1, 1)
            width = max(len(finding["cues"]) / max(report.get("segments") or 1, 1), 0.004)
        label = finding["labels"][0] if finding["labels"] else ""
        marks.append(
            f"<a class='mark {escape(label)}' href='#f{first_index + i}' data-labels='{escape(' '.join(finding['labels']))}' "
            f"data-category='{escape(finding.get('category') or '')}' title='{escape(finding['text'])}' "
            f"style='left:{min(left, 1) * 100:.2f}%;width:{min(width, 1) * 100:.2f}%'></a>"
        )
    return f"<div class='timeline'>{''.join(marks)}</div>"


def _stream_html(report: dict[str, Any], first_index: int) -> str:
    facts = [
        f"主播：{escape(report.get('streamer') or UNKNOWN_STREAMER)}",
        f"品类：{escape(report.get('category') or '未标注')}",
        f"时长：{_clock(report.get('duration')) or '无时间轴'}",
        f"{report.get('segments', 0)} 句",
        f"{len(report['findings'])} 处问题",
    ]
    errors = "".join(f"<li>{escape(e)}</li>" for e in report.get("errors", []))
    items = "\n".join(_finding_html(f, first_index + i) for i, f in enumerate(report["findings"]))
    return (
        f"<section class='stream' data-product='{escape(report.get('category') or '')}'>"
        f"<h3>{escape(report['stream'])}</h3><div class='facts'>{' · '.join(facts)}</div>"
        + (f"<ul class='errors'>{errors}</ul>" if errors else "")
        + (_timeline(report, first_index) if report["findings"] else "")
        + f"<ol class='findings'>{items}</ol></section>"
    )


def _options(values: Iterable[str], names: dict[str, str]) -> str:
    return "".join(f"<option value='{escape(v)}'>{escape(names.get(v, v))}</option>" for v in values)


def report_html(reports: Sequence[dict[str, Any]]) -> str:
    reports = sorted(reports, key=lambda r: r["stream"])
    t = _totals(reports)
    versions = sorted(
        {
            f"规则 {r.get('ruleset_version')}"
            + (f" · 模型 {r['model_version']}" if r.get("model_version") else "")
            for r in reports
        }
    )
    sections, clean, index = [], [], 0
    for report in reports:
        if not report["findings"] and not report.get("errors"):
            clean.append(report["stream"])  # listed by name only: a day's archive is mostly clean
            continue
        sections.append(_stream_html(report, index))
        index += len(report["findings"])
    if clean:
        names = "".join(f"<li>{escape(name)}</li>" for name in clean)
        sections.append(
            f"<details class='clean'><summary>{len(clean)} 场未发现问题</summary><ul>{names}</ul></details>"
        )
    cards = [
        ("streams", "直播场次", t["streams"]),
        ("hours", "时长（小时）", t["hours"]),
        ("segments", "字幕句数", t["segments"]),
        ("findings", "问题总数", t["findings"]),
        ("efficacy", LABEL_NAMES["efficacy"], t["efficacy"]),
        ("diversion", LABEL_NAMES["diversion"], t["diversion"]),
        ("errors", "无法读取/有错误的文件", t["errors"]),
    ]
    card_html = "".join(
        f"<div class='card' id='total-{k}'><b>{escape(str(v))}</b><span>{escape(n)}</span></div>"
        for k, n, v in cards
    )
    return _PAGE.format(
        versions=escape("；".join(versions)),
        cards=card_html,
        streamers=_streamer_rows(reports),
        labels=_options((label.value for label in Label), LABEL_NAMES),
        categories=_options((c.value for c in RuleCategory), CATEGORY_NAMES),
        products=_options((c.value for c in ProductCategory), {}),
        total=t["findings"],
        streams="\n".join(sections),
        css=_CSS,
        js=_JS,
    )


_CSS = """
body{font:14px/1.5 -apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2937;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#cbd5e1;font-size:12px}
main{padding:16px 24px;max-width:1200px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:110px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:22px}.card span{color:#666;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:16px}
th,td{border-bottom:1px solid #e5e7eb;padding:6px 10px;text-align:left}th{background:#f1f5f9}
.filters{position:sticky;top:0;background:#f6f7f9;padding:8px 0;z-index:2;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.stream{background:#fff;border-radius:8px;padding:12px 16px;margin-bottom:14px;box-shadow:0 1px 2px #0002}
.stream h3{margin:0 0 2px;font-size:16px;word-break:break-all}.facts{color:#555;font-size:12px}
.errors{color:#b91c1c;font-size:13px}
.timeline{position:relative;height:14px;background:#e5e7eb;border-radius:7px;margin:10px 0}
.mark{position:absolute;top:0;height:14px;min-width:4px;border-radius:3px;opacity:.85}
.mark.efficacy,.badge.efficacy{background:#dc2626}.mark.diversion,.badge.diversion{background:#7c3aed}
.findings{padding-left:20px}.finding{margin:8px 0;padding:6px 8px;border-left:3px solid #e5e7eb}
.meta{display:flex;gap:8px;align-items:center;flex-wrap:wrap;font-size:12px;color:#555}
.badge{color:#fff;border-radius:4px;padding:0 6px}.rule{font-family:monospace}
.sev-high{color:#b91c1c;font-weight:bold}.sev-medium{color:#b45309}.sev-low{color:#4b5563}
.sentence{font-size:15px;margin:4px 0}mark{background:#fde047;padding:0 1px}
.reminder{font-size:13px;background:#f0fdf4;border-radius:6px;padding:6px 8px;color:#14532d}
.sent{display:inline-block;margin-right:6px;font-size:11px;border:1px solid #86efac;border-radius:4px;padding:0 4px}
.suggestion,.basis{color:#166534;font-size:12px}
.clean{background:#fff;border-radius:8px;padding:10px 16px;color:#555}
[hidden]{display:none!important}
"""

_JS = """
(function(){
  var label=document.getElementById('f-label'),cat=document.getElementById('f-category'),prod=document.getElementById('f-product');
  function apply(){
    var l=label.value,c=cat.value,p=prod.value,shown=0;
    document.querySelectorAll('section.stream').forEach(function(s){
      var okStream=!p||s.dataset.product===p,visible=0;
      s.querySelectorAll('.finding,.mark').forEach(function(el){
        var ok=okStream&&(!l||el.dataset.labels.split(' ').indexOf(l)>=0)&&(!c||el.dataset.category===c);
        el.hidden=!ok;
        if(ok&&el.classList.contains('finding')){visible++;}
      });
      shown+=visible;
      s.hidden=(l||c||p)?visible===0:false;
    });
    document.getElementById('shown').textContent=shown;
  }
  [label,cat,prod].forEach(function(el){el.addEventListener('change',apply);});
  apply();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>直播合规审计报告</title><style>{css}</style></head>
<body><header><h1>直播合规审计报告</h1><p>{versions}</p></header>
<main>
<div class="cards">{cards}</div>
<h2>主播</h2>
<table id="streamers"><thead><tr><th>主播</th><th>场次</th><th>小时</th><th>问题</th><th>夸大功效</th><th>站外导流</th><th>最高严重度</th></tr></thead>
<tbody>{streamers}</tbody></table>
<div class="filters">
<label>标签 <select id="f-label"><option value="">全部</option>{labels}</select></label>
<label>问题类别 <select id="f-category"><option value="">全部</option>{categories}</select></label>
<label>商品品类 <select id="f-product"><option value="">全部</option>{products}</select></label>
<span>显示 <b id="shown">{total}</b> / {total} 处问题</span>
</div>
<h2>逐场时间线</h2>
{streams}
</main>
<script>{js}</script>
</body></html>
"""
