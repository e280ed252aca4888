"""report.html: self-contained, escaped, and working in headless Chromium (totals, filters, screenshot)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from audit_support import OPTIONS, sample_archive, settings, write

from moderation.audit.report import report_html
from moderation.audit.run import run_audit

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    archive = sample_archive(root / "in")
    # A streamer name and a transcript that try to inject markup.
    write(archive / "evil" / "x<script>.txt", "<script>alert(1)</script> 全网最低价 <b>加我微信</b>\n")
    write(archive / "evil" / "x<script>.meta.json", '{"streamer": "<img src=x onerror=alert(2)>"}')
    run_audit([archive], root / "out", options=OPTIONS, settings=settings())
    return root / "out" / "report.html"


def test_report_is_self_contained_and_escaped(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert page.count("<script>") == 1  # only our own inline script
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<mark>根治</mark>" in page and "<mark>加我微信</mark>" in page


def test_clean_streams_are_listed_by_name_only(tmp_path: Path) -> None:
    write(tmp_path / "in" / "clean.txt", "大家好 点点关注\n")
    write(tmp_path / "in" / "flagged.txt", "全网最低价\n")
    run_audit([tmp_path / "in"], tmp_path / "out", options=OPTIONS, settings=settings())
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count("<section class='stream'") == 1
    assert "<summary>1 场未发现问题</summary><ul><li>clean.txt</li></ul>" in page


def test_empty_report_renders() -> None:
    page = report_html([])
    assert "<b>0</b><span>问题总数</span>" in page


@pytest.mark.browser
@pytest.mark.skipif(
    shutil.which("chromium") is None and not Path(CHROMIUM).exists(), reason="needs Debian's chromium"
)
def test_report_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri())
            # totals: 7 streams (5 readable, 2 broken), 8 findings: 6 efficacy, 2 diversion
            assert page.inner_text("#total-streams b") == "7"
            assert page.inner_text("#total-findings b") == "8"
            assert page.inner_text("#total-efficacy b") == "6"
            assert page.inner_text("#total-diversion b") == "2"
            assert page.inner_text("#total-errors b") == "2"
            assert page.inner_text("#shown") == "8"
            assert page.locator("#streamers tbody tr").count() == 4  # 老王, 桃子, the evil one, 未标注
            # filter by label
            page.select_option("#f-label", "diversion")
            assert page.inner_text("#shown") == "2"
            assert page.locator("li.finding:visible").count() == 2
            assert page.locator("section.stream:visible").count() == 2
            # and by category on top: no WeChat finding is a medical claim
            page.select_option("#f-category", "medical_claim")
            assert page.inner_text("#shown") == "0"
            page.select_option("#f-label", "")
            assert page.inner_text("#shown") == "3"
            page.select_option("#f-category", "")
            # by product category
            page.select_option("#f-product", "agri")
            assert page.inner_text("#shown") == "3"
            page.select_option("#f-product", "")
            assert page.locator("li.finding:visible").count() == 8
            # the injected script never ran, nothing was fetched, the page has no errors
            assert errors == []
            assert all(url.startswith("file://") for url in requests)
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 30_000  # a rendered page with text and colour, not a blank canvas
