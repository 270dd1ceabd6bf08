"""The register in a real headless Chromium: open it, filter it, open a system, see its findings."""

from __future__ import annotations

import pytest

from assay.register import service
from assay.demo import load_demo

from .conftest import DELETE, OPERATOR, example, variant

pytestmark = pytest.mark.browser


@pytest.fixture
def site(app, live_server):  # type: ignore[no-untyped-def]
    load_demo(app.state.db, app.state.config, provenance=False)
    return live_server


def test_open_filter_and_read_a_system(browser, site) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{site}/systems")
    assert page.locator("h1").inner_text() == "The register of AI systems"
    total = page.locator(".system-card").count()
    assert total >= 6
    page.select_option("#f-outcome", "prohibited")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/systems?*outcome=prohibited*")
    cards = page.locator(".system-card")
    assert 0 < cards.count() < total
    for i in range(cards.count()):
        assert "Prohibited" in cards.nth(i).locator(".badges").inner_text()
    page.fill("#f-q", "moodpulse")
    page.press("#f-q", "Enter")
    page.wait_for_url("**q=moodpulse**")
    page.locator(".system-card h2 a").first.click()
    page.wait_for_url("**/systems/moodpulse-call-centre")
    assert page.locator("#prohibited-notice").is_visible()
    findings = page.locator("ol.findings > li")
    assert findings.count() >= 2
    assert "Art. 5(1)(f)" in page.locator("ol.findings").inner_text()
    page.click("a[href='#history']")
    assert page.locator("#history").is_visible()
    assert dialogs == []
    page.close()


def test_hostile_names_render_as_text(browser, app, site) -> None:  # type: ignore[no-untyped-def]
    name = '<img src=x onerror="alert(1)"> Evil'
    d = variant(
        example(), **{"system.id": DELETE, "system.name": name, "system.summary": '<script>alert("summary")</script>'}
    )
    with app.state.db.write() as session:
        view = service.publish(session, d, principal=OPERATOR)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dlg: (dialogs.append(dlg.message), dlg.dismiss()))
    page.goto(f"{site}/systems/{view.id}")
    assert page.locator("h1").inner_text() == name
    assert page.locator("img[src=x]").count() == 0
    page.goto(f"{site}/systems?q=evil")
    assert name in page.locator(".system-card h2").first.inner_text()
    assert dialogs == []
    page.close()


def test_pages_fit_a_phone_screen_and_work_with_the_keyboard(browser, site) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 375, "height": 740})
    for path in ("/systems", "/systems/borealis-visa-triage", "/rules", "/providers"):
        page.goto(f"{site}{path}")
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
    page.goto(f"{site}/systems")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    # Every form control has a label.
    unlabeled = page.evaluate(
        "[...document.querySelectorAll('input, select')].filter(e => !e.labels || e.labels.length === 0).length"
    )
    assert unlabeled == 0
    page.close()


def _luminance(css: str) -> float:
    r, g, b = (int(float(x)) / 255 for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_keyboard_focus_is_clearly_visible(browser, site) -> None:  # type: ignore[no-untyped-def]
    # WCAG 2.2 SC 1.4.11: a focus indicator needs a contrast of at least 3:1 with what is around it.
    page = browser.new_page()
    page.goto(f"{site}/systems")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    for selector in ("header.site nav a", "#f-q", "#f-outcome", "form.filters button", ".system-card h2 a"):
        page.locator(selector).first.focus()
        style = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; }"
        )
        outline_style, width, color = style
        assert outline_style != "none" and width >= 2, f"{selector}: no visible focus outline ({style})"
        assert _contrast(color, background) >= 3, f"{selector}: focus outline {color} on {background}"
    page.close()


def test_the_log_page_says_what_each_entry_is_about(browser, site) -> None:  # type: ignore[no-untyped-def]
    # "Recent entries" used to show the first three body fields alphabetically (disclosure_sha256, impact_level,
    # outcome...): nobody could tell which system an entry was about.
    page = browser.new_page()
    page.goto(f"{site}/log")
    rows = page.locator("tr.log-entry")
    page.wait_for_function("document.querySelectorAll('tr.log-entry').length >= 18")  # 9 providers + 9 systems
    published = rows.filter(has_text="System published")
    assert published.count() == 9
    texts = [published.nth(i).inner_text() for i in range(published.count())]
    moodpulse = next(t for t in texts if "MoodPulse" in t)
    assert "AffectIQ" in moodpulse and "system.published" in moodpulse and "version" in moodpulse
    assert "disclosure_sha256" not in page.locator("table").inner_text()
    registered = rows.filter(has_text="Provider registered").first
    assert registered.locator("td.log-provider a").count() == 1
    page.locator("td.log-system a", has_text="MoodPulse").first.click()
    page.wait_for_url("**/systems/moodpulse-call-centre")
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{site}/log")
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"/log scrolls sideways by {overflow}px on a phone"
    page.close()
