"""Every kind of public page audited with axe-core (WCAG 2.1 A and AA) in a real headless Chromium.

The demo register (with its marked demo images and its demo complaints key) makes every page show real content:
systems of each outcome, a version page, providers and their credentials, a mark, the /check verdicts, the
complaint form and what follows it (receipt, follow-up, status), the log and an error page. A test fails listing
each violation: the page, the rule, and the selectors of the elements concerned.

axe-core comes from the ``axe-playwright-python`` package (the ``test`` extra); nothing is downloaded at test time.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


@dataclass
class Site:
    url: str
    data_dir: Path
    mark_id: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path, serve_app: Any) -> Iterator[Site]:
    """The demo register served once for the whole module (loading it marks images, which takes a while)."""
    from assay.complaints import service as complaints
    from assay.config import Config
    from assay.db import Database
    from assay.demo import load_demo
    from assay.web.app import create_app

    root = tmp_path_factory.mktemp("a11y")
    (root / "data").mkdir()
    shutil.copyfile(_sqlite_template, root / "data" / "assay.db")
    db = Database(f"sqlite:///{root / 'data' / 'assay.db'}")
    config = Config(
        data_dir=root / "data",
        public_url="http://testserver",
        # Fast complaint parameters, as in tests/complaints (the defaults are for production).
        complaints_pow_bits=6,
        complaints_kdf_memlimit=8 * 1024 * 1024,
        complaints_kdf_opslimit=1,
        complaints_per_hour=10_000,
        max_upload_bytes=2_000_000,  # for the "too large" page
    )
    result = load_demo(db, config, provenance=True)
    marked = result.extra["provenance"]["marked"]
    assert marked, result.extra
    # The demo's oversight key (as after 'make run'), so the complaint form shows its demo notice too.
    assert result.extra["complaints"]["demo_key"]
    with db.read() as session:
        assert complaints.current_key(session).demo  # type: ignore[union-attr]

    with serve_app(create_app(config, db, migrate=False)) as url:
        yield Site(url, config.data_dir, marked[0]["mark_id"])
    db.dispose()


def audit(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as shown now, one line per rule: page, rule, selectors."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    where = page.url.split("/", 3)[-1]
    problems = []
    for v in results.response["violations"]:
        targets = ["  " + " >> ".join(map(str, node["target"])) for node in v["nodes"]]
        problems.append(f"/{where}: {v['id']} ({v['impact']}, {len(v['nodes'])}x) {v['help']}\n" + "\n".join(targets))
    return problems


def assert_accessible(page: Any) -> None:
    problems = audit(page)
    assert not problems, f"{len(problems)} accessibility violation(s):\n" + "\n".join(problems)


def test_the_audit_reports_what_it_should(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    """The audit itself works: a page given an unlabelled field, an image without alt text and faint text fails."""
    page = browser.new_page()
    try:
        page.goto(f"{site.url}/systems")
        assert audit(page) == []
        page.evaluate(
            """() => {
              const m = document.querySelector('main');
              m.insertAdjacentHTML('beforeend',
                '<input type="text" id="planted-input"><img src="/static/favicon.svg" id="planted-img">'
                + '<p id="planted-text">faint</p>');
              // Set through the CSSOM: the site's CSP refuses style attributes.
              const p = document.getElementById('planted-text');
              p.style.color = '#ccc';
              p.style.background = '#fff';
            }"""
        )
        report = "\n".join(audit(page))
        for rule, selector in (
            ("label", "#planted-input"),
            ("image-alt", "#planted-img"),
            ("color-contrast", "#planted-text"),
        ):
            assert f": {rule} (" in report and selector in report, report
    finally:
        page.close()


# Pages shown by a plain GET, with the status each answers. {mark} is the first demo mark.
PAGES = [
    ("/", 200),
    ("/systems", 200),
    ("/systems?outcome=prohibited", 200),
    ("/systems?q=visa&impact_level=3&sort=name", 200),
    ("/systems?impact_level=banana&page=2", 200),  # problems with the filters shown
    ("/systems?q=no-such-system-anywhere", 200),
    ("/systems/moodpulse-call-centre", 200),  # prohibited
    ("/systems/borealis-visa-triage", 200),  # high-risk
    ("/systems/eastmark-police-face-search", 200),  # exception claimed, waiting for review
    ("/systems/acme-imagegen", 200),  # generative, marks images
    ("/systems/moodpulse-call-centre/versions/1", 200),
    ("/systems/acme-imagegen/complaints", 200),
    ("/providers", 200),
    ("/providers/acme", 200),
    ("/providers/acme/credentials", 200),
    ("/rules", 200),
    ("/about", 200),
    ("/check", 200),
    ("/marks/{mark}", 200),
    ("/systems/acme-imagegen/complaints/new", 200),
    ("/complaints/follow-up", 200),
    ("/log", 200),
    ("/log/entries/0", 200),
    ("/log/entries/1", 200),
    ("/systems/no-such-system", 404),
    ("/log/entries/999999", 404),
    ("/log?before=0", 422),  # a malformed query: the HTML error page with its problems
]


def without_javascript(browser):  # type: ignore[no-untyped-def]
    """A context that shows pages as a browser with JavaScript off does: no script runs, <noscript> is shown.

    Chromium with JavaScript disabled also refuses the script that runs axe (page.evaluate never returns), so
    the pages' own scripts are removed on the way in instead and their <noscript> content unwrapped.
    """
    context = browser.new_context()

    def handle(route) -> None:  # type: ignore[no-untyped-def]
        request = route.request
        if request.resource_type == "script":
            route.abort()
        elif request.resource_type == "document" and request.method == "GET":
            response = route.fetch()
            body = re.sub(r"<script\b.*?</script>", "", response.text(), flags=re.S | re.I)
            body = re.sub(r"</?noscript>", "", body, flags=re.I)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            route.fulfill(response=response, body=body, headers=headers)
        else:
            route.continue_()

    context.route("**/*", handle)
    return context


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize(("path", "status"), PAGES, ids=[p for p, _ in PAGES])
def test_page_passes_axe(browser, site: Site, path: str, status: int, viewport: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport=viewport)
    try:
        response = page.goto(site.url + path.format(mark=site.mark_id))
        assert response is not None and response.status == status, f"{path}: HTTP {response and response.status}"
        assert page.locator("main h1").count() == 1, f"{path}: no single h1 in main"
        assert_accessible(page)
    finally:
        page.close()


# The pages with scripts, as shown with JavaScript off.
SCRIPTED = ["/systems/acme-imagegen/complaints/new", "/complaints/follow-up"]


@pytest.mark.parametrize("path", SCRIPTED)
def test_page_without_javascript_passes_axe(browser, site: Site, path: str) -> None:  # type: ignore[no-untyped-def]
    context = without_javascript(browser)
    page = context.new_page()
    try:
        page.goto(site.url + path)
        assert page.locator("script").count() == 0 and page.evaluate("typeof sodium") == "undefined"
        if path.endswith("/new"):  # the <noscript> explanation is what is audited
            assert page.get_by_text("JavaScript is off.").is_visible()
        assert page.locator("main h1").count() == 1
        assert_accessible(page)
    finally:
        context.close()


@pytest.mark.parametrize(
    "image",
    [
        "sunset-over-hills.jpg",
        "sunset-reposted-without-credentials.jpg",
        "unmarked-photo.jpg",
        "not-an-image.txt",
        "huge.jpg",
    ],
)
def test_check_verdict_passes_axe(browser, site: Site, image: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = site.data_dir / "demo" / "images" / image
    if image == "not-an-image.txt":
        path = tmp_path / image
        path.write_text("not a picture")
    elif image == "huge.jpg":  # larger than max_upload_bytes: the "too large" page
        path = tmp_path / image
        path.write_bytes(b"\xff\xd8\xff" + bytes(2_500_000))
    page = browser.new_page()
    try:
        page.goto(f"{site.url}/check")
        page.get_by_label("Image file").set_input_files(str(path))
        page.get_by_role("button", name="Check this image").click()
        page.wait_for_load_state("load")
        expected = {"sunset-over-hills.jpg": "AI-generated", "unmarked-photo.jpg": "No Assay mark found"}
        # check.js puts the verdict in place (or, when the answer is not a page, posts the form as usual).
        wanted = "larger" if image == "huge.jpg" else expected.get(image)
        if wanted is None:
            page.wait_for_selector("#verdict, #check-error", timeout=30_000)
        else:
            page.locator("main", has_text=wanted).wait_for(timeout=30_000)
        assert page.locator("main h1").count() == 1
        shown = page.locator("main").inner_text()
        assert expected.get(image, "larger" if image == "huge.jpg" else "") in shown, shown
        assert_accessible(page)
    finally:
        page.close()


def test_complaint_without_javascript_receipt_and_status_pass_axe(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context = without_javascript(browser)
    page = context.new_page()
    try:
        page.goto(f"{site.url}/systems/acme-imagegen/complaints/new")
        page.fill("#f-what", "The generated image of me was used in an advert without my consent.")
        page.click("#send")
        words = page.locator("ol.words li, #receipt-words li").all_inner_texts()
        assert len(words) == 12, page.content()
        assert_accessible(page)  # the receipt
        page.goto(f"{site.url}/complaints/follow-up")
        page.fill("#f-receipt", " ".join(w.strip() for w in words))
        page.get_by_role("button", name="Open my complaint").click()
        page.wait_for_load_state("load")
        assert "follow-up" in page.url
        assert_accessible(page)  # the status page
    finally:
        context.close()


def test_complaint_with_javascript_receipt_and_follow_up_pass_axe(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    """The receipt as the browser shows it (buttons, deadlines, the "written it down" step) and the follow-up page
    with the complainant's own copy opened."""
    page = browser.new_page()
    try:
        page.goto(f"{site.url}/systems/acme-imagegen/complaints/new")
        page.wait_for_selector("text=Encrypted in your browser.")
        page.fill("#f-what", "The generated image of me was used in an advert without my consent.")
        page.click("#send")
        page.wait_for_selector("#receipt:not([hidden])", timeout=30_000)
        words = page.locator("#receipt-words li").all_inner_texts()
        assert len(words) == 12
        assert_accessible(page)  # the receipt
        page.check("#receipt-written")
        assert page.is_visible("#receipt-next")
        assert_accessible(page)  # with the next steps shown
        page.goto(f"{site.url}/complaints/follow-up")
        page.fill("#f-receipt", " ".join(words))
        page.get_by_role("button", name="Open my complaint").click()
        page.wait_for_selector("#case:not([hidden])", timeout=30_000)
        assert "advert" in page.inner_text("#case-messages")
        assert_accessible(page)  # the complaint with its own copy
    finally:
        page.close()
