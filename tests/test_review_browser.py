"""The reviewers' page end to end in headless Chromium against a real server: sign in, add a term,
try a sentence, dry-run, publish, see /v1/moderate flag it within 2 s, roll back; typed text is
shown as text, never run."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rulestore_support import SMALL_RULES, Server

from moderation.cli.main import main
from moderation.ruleset.packs import dump_packs

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
SENTENCE = "想要内部价的 去卫星号找我"
SCRIPT_TERM = "<script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review")


@pytest.fixture(scope="module")
def server(store_dir: Path) -> Iterator[Server]:
    # One server for the module: starting one is the slow part of these tests.
    dump_packs(SMALL_RULES, store_dir / "packs")
    srv = Server(url=f"sqlite:///{store_dir / 'store.db'}", rules_dir=store_dir / "packs", data_dir=store_dir)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def add_user(url: str, role: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["users", "add", f"{role}-wang", "--role", role, "--db", url]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def flagged(server: Server) -> bool:
    return any(h["text"] == "卫星号" for h in server.moderate(SENTENCE)["hits"])


@pytest.fixture
def browser_page() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium; never a downloaded one)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def test_reviewer_adds_a_term_and_it_is_live_within_2_seconds(
    server: Server, browser_page, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = browser_page
    url = f"sqlite:///{store_dir / 'store.db'}"
    token = add_user(url, "publisher", capsys)
    # A reviewer once typed a script tag as a term; it must show as text and never run.
    headers = {"Authorization": f"Bearer {token}"}
    best = httpx.get(f"{server.base}/v1/rules/absolute.best", headers=headers).json()
    put = httpx.put(
        f"{server.base}/v1/rules/absolute.best",
        headers=headers,
        json=best | {"terms": [*best["terms"], SCRIPT_TERM]},
    )
    assert put.status_code == 200, put.text
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    page.goto(f"{server.base}/review")
    page.fill("#token", token)
    page.click("#signin button")
    page.wait_for_selector("text=publisher-wang（publisher）")

    # the script term shows as text in the rules table
    row = page.locator("tr.rule[data-id='absolute.best']")
    assert SCRIPT_TERM in row.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 1  # only review.js

    # search by term, open the rule, add the new term
    page.fill("#q", "绿泡泡")
    page.click("#search button")
    page.locator("tr.rule[data-id='contact.wechat']").click()
    page.wait_for_selector("#editor:not([hidden])")
    terms = page.input_value("#edit-terms")
    page.fill("#edit-terms", terms + "\n卫星号")
    page.fill("#edit-reason", "新黑话：卫星号")
    page.click("#edit button")
    page.wait_for_selector("text=已保存到草稿：contact.wechat")

    # try a sentence: the new term is highlighted as you type, typed markup stays text
    page.fill("#try-text", SENTENCE + "<b>粗</b>")
    mark = page.wait_for_selector("#try-result mark")
    assert mark.inner_text() == "卫星号"
    assert "<b>粗</b>" in page.inner_text("#try-result")

    # the dry-run shows the new hit with its sentence
    page.click("#dryrun")
    page.wait_for_selector("#dryrun-result .added li")
    added = page.inner_text("#dryrun-result .added")
    assert "V我一下，给你发卫星号" in added and "contact.wechat" in added

    # publish, then the running service flags the sentence within 2 s
    assert not flagged(server)
    page.fill("#publish-message", "上线新黑话 卫星号")
    page.click("#publish button")
    page.wait_for_selector("text=已发布版本 v2")
    published = time.monotonic()
    while not flagged(server):
        assert time.monotonic() - published < 2.0, "the publish did not reach /v1/moderate within 2 s"
        time.sleep(0.02)

    # history shows the version and the audit diff; roll back to v1 from the page
    page.wait_for_selector("#versions >> text=上线新黑话 卫星号")
    assert "新黑话：卫星号" in page.inner_text("#audit")
    page.locator("#versions tr", has_text="shipped packs").locator("button").click()
    page.wait_for_selector("text=已回滚：新版本 v3 = v1")
    rolled = time.monotonic()
    while flagged(server):
        assert time.monotonic() - rolled < 2.0, "the rollback did not reach /v1/moderate within 2 s"
        time.sleep(0.02)
    assert dialogs == ["回滚到 v1？这会发布一个新版本。"]
    assert page.evaluate("window.__pwned") is None


def test_a_reviewer_cannot_publish_from_the_page(
    server: Server, browser_page, store_dir: Path, capsys
) -> None:
    page = browser_page
    token = add_user(f"sqlite:///{store_dir / 'store.db'}", "reviewer", capsys)
    page.goto(f"{server.base}/review")
    page.fill("#token", "wrong-token")
    page.click("#signin button")
    page.wait_for_selector("#error >> text=unknown token")
    page.fill("#token", token)
    page.click("#signin button")
    page.wait_for_selector("text=reviewer-wang（reviewer）")
    assert page.locator("#publish-section").is_hidden()
