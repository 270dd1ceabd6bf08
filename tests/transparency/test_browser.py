"""The log's pages in a real headless Chromium, without JavaScript, on a phone-sized screen."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.db import Database
from assay.tlog import verify_proof
from assay.transparency import record_many, verifier_key
from assay.transparency.reading import read_head

pytestmark = pytest.mark.browser


def test_log_pages_work_without_javascript_on_a_phone(browser, live_server, sqlite_db: Database) -> None:  # type: ignore[no-untyped-def]
    with sqlite_db.write() as s:
        record_many(
            s,
            [
                ("mark.recorded", {"mark": f"{i:016x}", "sha256": f"{i:064x}", "system": "acme-imagegen"})
                for i in range(30)
            ],
            time=datetime(2026, 11, 29, tzinfo=UTC),
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite_db.read() as s:
            if read_head(s).size == 30:
                break
        time.sleep(0.05)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 360, "height": 740}, accept_downloads=True
    )
    page = context.new_page()
    page.goto(f"{live_server}/log")
    assert page.locator("h1").inner_text() == "The transparency log"
    assert "30" in page.locator("dl.facts").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("link", name="29", exact=True).click()
    page.wait_for_url("**/log/entries/29")
    assert page.locator("h1").inner_text() == "Log entry 29"
    assert "c2sp.org/tlog-proof@v1" in page.locator("pre[aria-label='The tlog-proof']").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # The proof and the entry's exact bytes download, and verify offline together with the log's key.
    files = {}
    for name in ("Download the proof", "Download the entry"):
        with page.expect_download() as info:
            page.get_by_role("link", name=name).click()
        files[info.value.suggested_filename] = Path(info.value.path()).read_bytes()
    entry, proof = files["assay-log-29.entry.json"], files["assay-log-29.tlog-proof"]
    assert verify_proof(proof, entry, verifier_key(sqlite_db) or "").size == 30
    # The ids in the entry lead to the register's pages about them.
    assert page.get_by_role("link", name="acme-imagegen").get_attribute("href") == "/systems/acme-imagegen"
    assert page.get_by_role("link", name=f"{29:016x}").get_attribute("href") == f"/marks/{29:016x}"
    context.close()
