"""/api/docs: Swagger UI served by the register itself, working in a real Chromium under the strict CSP."""

from __future__ import annotations

import pytest


def test_the_docs_page_loads_nothing_from_elsewhere_and_runs_no_inline_script(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/api/docs")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert "http" not in page.text  # every asset from this server
    assert "<script>" not in page.text  # scripts only by src
    for asset in ("/api/docs/assets/swagger-ui.css", "/api/docs/assets/swagger-ui-bundle.js", "/static/api-docs.js"):
        assert asset in page.text and client.get(asset).status_code == 200


@pytest.mark.browser
def test_swagger_ui_renders_the_api_in_chromium(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto(f"{live_server}/api/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock").count() >= 50  # one block per operation of /openapi.json
    assert "Assay" in page.locator(".info .title").inner_text()
    assert problems == []  # no CSP refusal, no asset missing
    page.close()
