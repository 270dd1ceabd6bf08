"""The complaints channel in real headless Chromium: browser encryption end to end, the no-JavaScript path, and
interoperability of libsodium.js (in the page) with PyNaCl (here) in both directions."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from mnemonic import Mnemonic
from PIL import Image, PngImagePlugin

from assay.complaints import crypto, service

from .test_web import scan, tokens

pytestmark = pytest.mark.browser

WHAT = "The hiring filter rejected every applicant over fifty, including me"
EVIDENCE = b"Rejection e-mail, 12 May 2026: 'not a culture fit' \xe2\x80\x94 ref 99812\n"
SECRET_METADATA = "Jane Q. Complainant, 52.3702N 4.8952E"
NOT_REALLY_A_JPEG = b"\xff\xd8\xff\xe0 damaged scan, author: Jane Q. Complainant"


def written_reply_key(db, complaint_id: str) -> str:  # type: ignore[no-untyped-def]
    with db.read() as s:
        view = service.get_complaint(s, complaint_id)
    return crypto.b64(view.reply_public_key)


def png_with_metadata() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET_METADATA)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def open_page(browser, url: str, *, javascript: bool = True):  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return context, page, errors


def test_file_in_the_browser_then_pull_reply_and_read_the_reply(
    browser,
    live_server,
    sqlite_db,
    system_id,
    key_file,  # type: ignore[no-untyped-def]
    config,
    tmp_path,
    run,
) -> None:
    admin, _ = tokens(sqlite_db)
    files = tmp_path / "upload"
    files.mkdir()
    (files / "rejection.txt").write_bytes(EVIDENCE)
    (files / "photo.png").write_bytes(png_with_metadata())
    (files / "scan.jpg").write_bytes(NOT_REALLY_A_JPEG)  # announced as a photo, but no canvas can re-draw it

    context, page, errors = open_page(browser, f"{live_server}/systems/{system_id}")
    page.click("text=File a complaint about this system")
    page.wait_for_selector("#complaint-form")
    page.wait_for_selector("text=Encrypted in your browser.")  # shown by the script once it runs
    page.fill("#f-what", WHAT)
    page.fill("#f-when", "May 2026")
    page.set_input_files("#f-files", [str(files / "rejection.txt"), str(files / "photo.png"), str(files / "scan.jpg")])
    notes = page.inner_text("#file-notes")
    assert "photo.png: a photo; hidden information" in notes and "rejection.txt: will be sent as it is" in notes
    page.click("#send")
    # The photo that could not be cleaned is named before anything is sent; pressing again sends it as it is.
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "could not be removed from scan.jpg" in page.inner_text("#error")
    assert "scan.jpg: could not be cleaned" in page.inner_text("#file-notes")
    assert page.evaluate("document.activeElement.id") == "error"  # the message takes the focus
    page.click("#send")
    page.wait_for_selector("#receipt:not([hidden])", timeout=30_000)
    words = " ".join(page.locator("#receipt-words li").all_inner_texts())
    assert Mnemonic("english").check(words) and not errors
    context.close()

    # The server holds no plaintext anywhere: not in the database files, not in the data folder.
    db_folder = Path(sqlite_db.url.split("sqlite:///")[1]).parent
    needles = [WHAT.encode(), EVIDENCE, SECRET_METADATA.encode(), words.encode(), b"May 2026"]
    assert scan([db_folder, config.data_dir], needles) == []

    # The oversight body pulls through the API with its key file, off the server, and gets every byte back.
    inbox = tmp_path / "offline-inbox"
    server = ["--server", live_server, "--token", admin]
    pulled = json.loads(
        run(
            tmp_path / "cli-data",
            "complaints",
            "pull",
            "--key",
            str(key_file),
            "--inbox",
            str(inbox),
            *server,
            "--json",
        ).stdout
    )
    (written,) = pulled["written"]
    folder = inbox / written["complaint_id"]
    doc = json.loads(next(folder.glob("*-complaint.json")).read_text())
    assert doc["fields"] == {"what": WHAT, "when": "May 2026"} and doc["encrypted_in"] == "browser"
    by_name = {a["name"]: a for a in doc["attachments"]}
    assert (folder / by_name["rejection.txt"]["file"]).read_bytes() == EVIDENCE  # byte for byte
    assert by_name["rejection.txt"]["metadata"] == "as-is"
    assert by_name["photo.png"]["metadata"] == "stripped"
    assert by_name["scan.jpg"]["metadata"] == "as-is"
    assert (folder / by_name["scan.jpg"]["file"]).read_bytes() == NOT_REALLY_A_JPEG
    # The receipt's reply key travels sealed inside the complaint; the CLI checks the server's copy against it.
    assert doc["reply_public_key"] == written_reply_key(sqlite_db, written["complaint_id"])
    cleaned = Image.open(folder / by_name["photo.png"]["file"])
    assert cleaned.size == (64, 48) and cleaned.convert("RGB").getpixel((5, 5)) == (200, 30, 30)
    assert "Author" not in cleaned.info
    assert SECRET_METADATA.encode() not in (folder / by_name["photo.png"]["file"]).read_bytes()

    run(tmp_path / "cli-data", "complaints", "status", written["complaint_id"], "acknowledged", *server)
    run(
        tmp_path / "cli-data",
        "complaints",
        "reply",
        written["complaint_id"],
        "--message",
        "Thank you. We have asked the provider for its age statistics.",
        "--inbox",
        str(inbox),
        *server,
    )

    # The complainant comes back with the receipt alone and reads the reply, decrypted in the browser.
    context, page, errors = open_page(browser, f"{live_server}/complaints/follow-up")
    page.fill("#f-receipt", words)
    page.click("text=Open my complaint")
    page.wait_for_selector("#case:not([hidden])", timeout=30_000)
    assert page.inner_text("#case-status") == "Acknowledged"
    assert page.inner_text("#case-deadlines").startswith("Acknowledgement by ")  # as the no-JavaScript page says
    assert "We have asked the provider for its age statistics." in page.inner_text("#case-messages")
    # Adding information, sealed in the browser.
    page.fill("#i-what", "I found a second rejection letter.")
    page.click("text=Encrypt and add")
    page.wait_for_selector("text=Your information was encrypted in your browser and added.", timeout=30_000)
    assert not errors
    context.close()
    again = json.loads(
        run(
            tmp_path / "cli-data",
            "complaints",
            "pull",
            "--key",
            str(key_file),
            "--inbox",
            str(inbox),
            *server,
            "--json",
        ).stdout
    )
    assert [w["kind"] for w in again["written"]] == ["reply", "information"]
    assert "second rejection letter" in Path(again["written"][1]["path"]).read_text()


def test_without_javascript_the_server_encrypts_and_says_so(
    browser,
    live_server,
    sqlite_db,
    system_id,
    body_key,  # type: ignore[no-untyped-def]
    config,
    tmp_path,
) -> None:
    attachment = tmp_path / "statement.txt"
    attachment.write_bytes(EVIDENCE)
    context, page, _ = open_page(browser, f"{live_server}/systems/{system_id}/complaints/new", javascript=False)
    assert "JavaScript is off." in page.inner_text("main")  # the <noscript> notice is rendered
    page.fill("#f-what", WHAT)
    page.set_input_files("#f-files", str(attachment))
    page.click("#send")
    page.wait_for_selector("#mode-used")
    assert page.get_attribute("#mode-used", "data-mode") == "server"
    assert "Encrypted on the server" in page.inner_text("#mode-used")
    words = " ".join(page.locator("#receipt-words li").all_inner_texts())
    db_folder = Path(sqlite_db.url.split("sqlite:///")[1]).parent
    assert scan([db_folder, config.data_dir], [WHAT.encode(), EVIDENCE, words.encode()]) == []

    with sqlite_db.write() as s:
        (view,) = service.list_complaints(s)
        content = crypto.unpack_complaint(crypto.open_sealed(view.messages[0].ciphertext, body_key[0]))
        assert content.attachments[0].data == EVIDENCE and content.mode == "server"
        blob = crypto.pack_message("Received; we will answer within three months.")
        service.add_reply(
            s,
            view.id,
            service.SealedReply(crypto.seal(blob, view.reply_public_key), crypto.seal(blob, body_key[1]), body_key[2]),
            today=date.today(),
            max_bytes=10**6,
        )
    page.goto(f"{live_server}/complaints/follow-up")
    page.fill("#f-receipt", words)
    page.click("text=Open my complaint")
    page.wait_for_selector("#case")
    assert "Received; we will answer within three months." in page.inner_text("#case-messages")
    context.close()


def test_libsodium_js_and_pynacl_interoperate_both_ways(browser, live_server, sqlite_db, body_key) -> None:  # type: ignore[no-untyped-def]
    context, page, errors = open_page(browser, f"{live_server}/complaints/follow-up")
    page.wait_for_function("window.sodium && window.assayComplaints")
    private, public = crypto.generate_body_key()

    # Browser -> PyNaCl: a container sealed by libsodium.js opens here and parses.
    sealed_b64 = page.evaluate(
        """async ([pk, rk]) => {
            const s = await window.assayComplaints.sodiumReady();
            const A = window.assayComplaints;
            const att = [{name: "a.bin", type: "application/octet-stream", data: new Uint8Array([0, 1, 2, 255]),
                          metadata: "as-is"}];
            const box = A.seal(s, A.packComplaint(s, "complaint", "sys-1", {what: "héllo 🌍"}, att,
                                                  s.from_base64(rk, s.base64_variants.URLSAFE_NO_PADDING)),
                               s.from_base64(pk, s.base64_variants.URLSAFE_NO_PADDING));
            return s.to_base64(box, s.base64_variants.URLSAFE_NO_PADDING);
        }""",
        [crypto.b64(public), crypto.b64(bytes(range(32)))],
    )
    content = crypto.unpack_complaint(crypto.open_sealed(crypto.b64decode(sealed_b64), private))
    assert content.fields == {"what": "héllo 🌍"} and content.attachments[0].data == bytes([0, 1, 2, 255])
    assert content.reply_public_key == bytes(range(32))

    # The same receipt gives the same words, access key and reply key in both implementations.
    words, entropy = crypto.new_receipt()
    params = crypto.KdfParams(salt=b"0123456789abcdef", opslimit=1, memlimit=8 * 1024 * 1024)
    keys = crypto.derive_receipt_keys(entropy, params)
    reply = crypto.seal(crypto.pack_message("A reply from PyNaCl ✓"), keys.reply_public_key)
    result = page.evaluate(
        """async ([words, salt, reply]) => {
            const s = await window.assayComplaints.sodiumReady();
            const A = window.assayComplaints;
            const list = await A.wordlist();
            const entropy = A.wordsToEntropy(s, words, list);
            const k = A.deriveKeys(s, entropy, {salt: salt, opslimit: "1", memlimit: String(8 * 1024 * 1024)});
            const plain = A.openSealed(s, s.from_base64(reply, s.base64_variants.URLSAFE_NO_PADDING),
                                       k.replyPublic, k.replyPrivate);
            return {words: A.entropyToWords(s, entropy, list).join(" "), entropy: s.to_hex(entropy),
                    access: s.to_hex(k.access), replyPublic: s.to_hex(k.replyPublic),
                    reply: new TextDecoder().decode(plain)};
        }""",
        [words, crypto.b64(params.salt), crypto.b64(reply)],
    )
    assert result["words"] == words and result["entropy"] == entropy.hex()
    assert result["access"] == keys.access_key.hex() and result["replyPublic"] == keys.reply_public_key.hex()
    assert result["reply"] == crypto.MESSAGE_MAGIC.decode() + "A reply from PyNaCl ✓"
    # Padmé lengths agree.
    lengths = page.evaluate("[1, 2, 100, 1000, 65537, 10000003].map(window.assayComplaints.padmeLength)")
    assert lengths == [crypto.padme_length(n) for n in (1, 2, 100, 1000, 65537, 10000003)]
    assert not errors
    context.close()


def test_the_browser_receipt_says_as_much_can_be_kept_and_reopens_what_was_sent(  # type: ignore[no-untyped-def]
    browser, live_server, sqlite_db, system_id, body_key, tmp_path
) -> None:
    """Issue 11 item 5 in Chromium: the receipt after browser encryption shows what the no-JavaScript one shows
    (system, day, 7-day and 3-month deadlines); copy, print and save work; leaving before ticking "I have written
    it down" asks first; and the follow-up page names the system and decrypts the complainant's own copy."""
    from datetime import timedelta

    from assay.complaints.stats import add_months

    context = browser.new_context(accept_downloads=True, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server}/systems/{system_id}/complaints/new")
    page.wait_for_selector("text=Encrypted in your browser.")
    page.fill("#f-what", WHAT)
    assert page.is_checked("#f-keep-copy")
    page.click("#send")
    page.wait_for_selector("#receipt:not([hidden])", timeout=30_000)
    words = page.locator("#receipt-words li").all_inner_texts()
    today = date.today()
    ack_by, answer_by = today + timedelta(days=7), add_months(today + timedelta(days=7), 3)
    assert page.inner_text("#receipt h2") == "Your complaint about Acme ImageGen was received"
    assert page.inner_text("#receipt-system") == "Acme ImageGen (by Acme Imaging B.V.)"
    assert page.inner_text("#receipt-received") == today.isoformat()
    assert page.inner_text("#receipt-ack-by") == ack_by.isoformat()
    assert page.inner_text("#receipt-answer-by") == answer_by.isoformat()
    assert page.inner_text("#receipt-kept").startswith("kept")
    assert page.locator("#receipt-facts dt").all_inner_texts() == [
        "About",
        "Received",
        "Acknowledgement",
        "An answer",
        "Follow up at",
        "Your copy",
    ]  # the same list as the no-JavaScript receipt (one template for both)

    page.click("#receipt-copy")
    page.wait_for_selector("text=Copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert " ".join(words) == " ".join(w.split(". ", 1)[1] for w in copied.splitlines()[2:14])
    assert f"by {ack_by.isoformat()} (7 days)" in copied and f"by {answer_by.isoformat()} (3 months)" in copied
    with page.expect_download() as saving:
        page.click("#receipt-save")
    download = saving.value
    assert download.suggested_filename == "assay-complaint-receipt.txt"
    assert Path(download.path()).read_text() == copied
    page.evaluate("window.print = () => { window.printedAt = Date.now(); }")  # headless Chromium has no dialog
    page.click("#receipt-print")
    assert page.evaluate("typeof window.printedAt") == "number"
    page.emulate_media(media="print")
    assert page.is_visible("#receipt-words") and not page.is_visible("header.site")
    assert not page.is_visible(".receipt-actions") and not page.is_visible("#receipt-written")
    page.emulate_media(media="screen")

    # Leaving before saying the words are kept: the browser asks first.
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.evaluate("location.href = '/'")
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"] and page.url.endswith("/complaints/new")
    assert not page.is_visible("#receipt-next")
    page.check("#receipt-written")
    assert page.is_visible("#receipt-next") and "acknowledged" in page.inner_text("#receipt-next")
    page.goto(f"{live_server}/complaints/follow-up")
    assert dialogs == ["beforeunload"]

    # Back with the words: the page names the system and shows what was sent, decrypted here.
    page.fill("#f-receipt", " ".join(words))
    page.click("text=Open my complaint")
    page.wait_for_selector("#case:not([hidden])", timeout=30_000)
    assert page.inner_text("#case-title") == "Your complaint about Acme ImageGen"
    mine = page.inner_text("#case-messages li.mine")
    assert "What happened" in mine and WHAT in mine
    page.fill("#i-what", "A second letter came.")
    page.uncheck("#i-keep-copy")
    page.click("text=Encrypt and add")
    page.wait_for_selector("text=Your information was encrypted in your browser and added.", timeout=30_000)
    added = page.locator("#case-messages li.mine").nth(1).inner_text()
    assert "No copy was kept for you" in added and "second letter" not in added
    assert not errors
    context.close()


def test_own_copies_interoperate_between_libsodium_js_and_pynacl(browser, live_server, body_key) -> None:  # type: ignore[no-untyped-def]
    context, page, errors = open_page(browser, f"{live_server}/complaints/follow-up")
    page.wait_for_function("window.sodium && window.assayComplaints")
    words, entropy = crypto.new_receipt()
    params = crypto.KdfParams(salt=b"0123456789abcdef", opslimit=1, memlimit=8 * 1024 * 1024)
    keys = crypto.derive_receipt_keys(entropy, params)
    python_copy = crypto.seal_own_copy(
        crypto.ComplaintContent(fields={"what": "from PyNaCl ✓", "ask": "an answer"}, system_id="s"), keys.copy_key
    )
    result = page.evaluate(
        """async ([words, salt, copy]) => {
            const s = await window.assayComplaints.sodiumReady();
            const A = window.assayComplaints;
            const k = A.deriveKeys(s, A.wordsToEntropy(s, words, await A.wordlist()),
                                   {salt: salt, opslimit: "1", memlimit: String(8 * 1024 * 1024)});
            const b = (x) => s.to_base64(x, s.base64_variants.URLSAFE_NO_PADDING);
            const att = [{name: "a.png", type: "image/png", data: new Uint8Array([1, 2, 3]), metadata: "stripped"}];
            return {copyKey: s.to_hex(k.copy),
                    opened: A.openOwnCopy(s, s.from_base64(copy, s.base64_variants.URLSAFE_NO_PADDING), k.copy),
                    made: b(A.sealOwnCopy(s, "complaint", "sys-1", {what: "from the browser 🌍"}, att, k.copy))};
        }""",
        [words, crypto.b64(params.salt), crypto.b64(python_copy)],
    )
    assert result["copyKey"] == keys.copy_key.hex()
    assert result["opened"]["fields"] == {"what": "from PyNaCl ✓", "ask": "an answer"}
    made = crypto.open_own_copy(crypto.b64decode(result["made"]), keys.copy_key)
    assert made["fields"] == {"what": "from the browser 🌍"} and made["system"] == "sys-1"
    assert made["attachments"] == [{"name": "a.png", "type": "image/png", "size": 3, "metadata": "stripped"}]
    assert not errors
    context.close()
