"""The oversight body's CLI on a real database: keygen, publish, pull, reply, status, rotate, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from nacl.public import PrivateKey
from sqlalchemy import select

from assay.complaints import crypto, keyfile, service
from assay.db import Database

FAST = ["--kdf-memlimit", str(8 * 1024 * 1024)]


def file_complaint(
    db: Database, public: bytes, kid: str, content: crypto.ComplaintContent, *, stored_reply_key: bytes | None = None
) -> bytes:
    """What the browser does, with the same primitives; returns the reply private key.

    ``stored_reply_key`` stands for a server that stores another reply key than the one sealed inside."""
    reply_private, reply_public = crypto.generate_body_key()
    content = replace(content, reply_public_key=reply_public)
    with db.write() as s:
        service.submit_complaint(
            s,
            system_id=content.system_id,
            key_id=kid,
            ciphertext=crypto.seal(crypto.pack_complaint(content), public),
            lookup=os.urandom(32),
            reply_public_key=stored_reply_key or reply_public,
            today=date.today(),
            max_bytes=10_000_000,
        )
    return reply_private


def test_the_whole_cycle_on_the_local_database(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    offline = tmp_path / "offline"
    key1 = offline / "body-1.key.json"
    out = json.loads(run(data, "complaints", "keygen", "--out", str(key1), *FAST, "--json").stdout)
    assert out["key_id"] == crypto.key_id(keyfile.read_key_file_public(key1))
    published = json.loads(run(data, "complaints", "publish-key", "--key", str(key1), "--json").stdout)
    assert published["key_id"] == out["key_id"] and published["log_index"] is not None

    db = Database(f"sqlite:///{data / 'assay.db'}")
    public1 = keyfile.read_key_file_public(key1)
    evidence = bytes(range(256)) * 40 + b"\x00end"
    reply_private = file_complaint(
        db,
        public1,
        out["key_id"],
        crypto.ComplaintContent(
            fields={"what": "The tenant screening refused me without a reason.", "contact": "via receipt only"},
            attachments=(crypto.Attachment("letter.pdf", "application/pdf", evidence, "as-is"),),
            system_id="acme-screening",
        ),
    )

    inbox = offline / "inbox"
    pulled = json.loads(run(data, "complaints", "pull", "--key", str(key1), "--inbox", str(inbox), "--json").stdout)
    (written,) = pulled["written"]
    cid = written["complaint_id"]
    folder = inbox / cid
    doc = json.loads(next(folder.glob("*-complaint.json")).read_text())
    assert doc["fields"]["what"] == "The tenant screening refused me without a reason."
    assert (folder / doc["attachments"][0]["file"]).read_bytes() == evidence  # byte for byte
    assert oct((folder / doc["attachments"][0]["file"]).stat().st_mode & 0o777) == "0o600"
    # A second pull finds nothing new.
    again = json.loads(run(data, "complaints", "pull", "--key", str(key1), "--inbox", str(inbox), "--json").stdout)
    assert again["written"] == []

    assert doc["reply_public_key"] == crypto.b64(bytes(PrivateKey(reply_private).public_key))
    run(data, "complaints", "status", cid, "acknowledged")
    # A reply is sealed to the reply key found inside the pulled complaint, so the complaint must be pulled.
    unpulled = run(data, "complaints", "reply", cid, "--message", "Hello", "--inbox", str(offline / "empty"), ok=False)
    assert "not in the inbox" in " ".join(unpulled.stderr.split()) and "pull it first" in unpulled.stderr
    run(
        data,
        "complaints",
        "reply",
        cid,
        "--message",
        "We have asked the provider for its records.",
        "--inbox",
        str(inbox),
    )
    bad = run(data, "complaints", "status", cid, "received", ok=False)
    assert "cannot move back" in bad.stderr
    bad = run(data, "complaints", "status", cid, "rejected", ok=False)
    assert "needs a reason" in bad.stderr
    listed = json.loads(run(data, "complaints", "list", "--json").stdout)
    assert [c["status"] for c in listed["complaints"]] == ["acknowledged"]
    assert "reply_public_key" in listed["complaints"][0] and "messages" not in listed["complaints"][0]

    # The complainant, with the receipt's key, reads the reply; the server's database holds only ciphertext.
    with db.read() as s:
        view = service.get_complaint(s, cid)
    assert view is not None
    (reply,) = [m for m in view.messages if m.kind == "reply"]
    assert (
        crypto.unpack_message(crypto.open_sealed(reply.ciphertext, reply_private))
        == "We have asked the provider for its records."
    )

    # Rotation: the old key is needed for old complaints, the new one for new complaints.
    key2 = offline / "body-2.key.json"
    run(data, "complaints", "keygen", "--out", str(key2), *FAST)
    refused = run(data, "complaints", "publish-key", "--key", str(key2), ok=False)
    assert "--rotate" in refused.stderr
    run(data, "complaints", "publish-key", "--key", str(key2), "--rotate")
    keys = json.loads(run(data, "complaints", "keys", "--json").stdout)["keys"]
    assert [k["retired_on"] is None for k in keys] == [False, True]
    file_complaint(
        db,
        keyfile.read_key_file_public(key2),
        crypto.key_id(keyfile.read_key_file_public(key2)),
        crypto.ComplaintContent(fields={"what": "after the rotation"}, system_id="acme-screening"),
    )
    fresh = offline / "fresh-inbox"
    missing = run(data, "complaints", "pull", "--key", str(key2), "--inbox", str(fresh), ok=False)
    assert out["key_id"] in missing.stderr  # names the old key it needs
    both = json.loads(
        run(data, "complaints", "pull", "--key", str(key2), "--key", str(key1), "--inbox", str(fresh), "--json").stdout
    )
    assert [w["kind"] for w in both["written"]] == ["complaint", "reply", "complaint"]
    assert "asked the provider" in Path(both["written"][1]["path"]).read_text()
    db.dispose()
    # Only after every connection is closed: reading a SQLite file in-process drops that process's POSIX locks.
    raw = (data / "assay.db").read_bytes()
    assert b"provider for its records" not in raw and b"tenant screening" not in raw and evidence[:600] not in raw


def test_wrong_passphrase_and_missing_key_are_clear_errors(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    key = tmp_path / "k.json"
    keyfile.write_key_file(
        key,
        bytes(PrivateKey.generate()),
        "another passphrase entirely",
        kdf=keyfile.KeyFileKdf(opslimit=1, memlimit=8 * 1024 * 1024),
    )
    run(data, "complaints", "publish-key", "--key", str(key))
    db = Database(f"sqlite:///{data / 'assay.db'}")
    public = keyfile.read_key_file_public(key)
    file_complaint(db, public, crypto.key_id(public), crypto.ComplaintContent(fields={"what": "x"}, system_id="s"))
    db.dispose()
    r = run(data, "complaints", "pull", "--key", str(key), "--inbox", str(tmp_path / "in"), ok=False)
    assert "passphrase does not open" in r.stderr
    assert not list((tmp_path / "in").glob("*/*"))  # nothing written, cursor not advanced
    assert not list((tmp_path / "in").glob("*"))  # not even an empty folder for the complaint
    r = run(data, "complaints", "pull", "--key", str(tmp_path / "nope.json"), "--inbox", str(tmp_path / "in"), ok=False)
    assert "no key file" in r.stderr
    r = run(data, "complaints", "reply", "0" * 20, "--message", "hi", ok=False)
    assert "no complaint with id" in r.stderr


def test_the_installed_entry_point_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay",
            "--data-dir",
            str(tmp_path),
            "complaints",
            "pull",
            "--inbox",
            str(tmp_path / "in"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, COLUMNS="200"),
    )
    assert r.returncode == 2 and "needs the body's key file" in r.stderr and "Traceback" not in r.stderr


def test_a_reply_key_swapped_on_the_server_is_refused_before_anything_is_sent(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    # A server that replaced the complaint's reply key in its database (with one it holds the private half of)
    # would read every reply sealed to it. The key sealed inside the complaint, out of the server's reach, wins.
    data, inbox = tmp_path / "data", tmp_path / "inbox"
    key = tmp_path / "body.key.json"
    run(data, "complaints", "keygen", "--out", str(key), *FAST)
    run(data, "complaints", "publish-key", "--key", str(key))
    db = Database(f"sqlite:///{data / 'assay.db'}")
    public = keyfile.read_key_file_public(key)
    _, servers_key = crypto.generate_body_key()
    file_complaint(
        db,
        public,
        crypto.key_id(public),
        crypto.ComplaintContent(fields={"what": "x"}, system_id="s"),
        stored_reply_key=servers_key,
    )
    (written,) = json.loads(run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), "--json").stdout)[
        "written"
    ]
    cid = written["complaint_id"]
    for args in (["reply", cid, "--message", "Your case"], ["status", cid, "rejected", "--reason", "Not ours"]):
        r = run(data, "complaints", *args, "--inbox", str(inbox), ok=False)
        assert "differs from the one sealed inside the complaint" in " ".join(r.stderr.split())
    with db.read() as s:
        view = service.get_complaint(s, cid)
    assert view is not None and view.status == "received" and [m.kind for m in view.messages] == ["complaint"]
    db.dispose()


def test_a_closed_complaint_takes_no_more_replies(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    data, inbox = tmp_path / "data", tmp_path / "inbox"
    key = tmp_path / "body.key.json"
    run(data, "complaints", "keygen", "--out", str(key), *FAST)
    run(data, "complaints", "publish-key", "--key", str(key))
    db = Database(f"sqlite:///{data / 'assay.db'}")
    public = keyfile.read_key_file_public(key)
    file_complaint(db, public, crypto.key_id(public), crypto.ComplaintContent(fields={"what": "x"}, system_id="s"))
    db.dispose()
    (written,) = json.loads(run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), "--json").stdout)[
        "written"
    ]
    cid = written["complaint_id"]
    run(
        data,
        "complaints",
        "status",
        cid,
        "resolved",
        "--reason",
        "The provider changed its threshold.",
        "--inbox",
        str(inbox),
    )
    r = run(data, "complaints", "reply", cid, "--message", "One more thing", "--inbox", str(inbox), ok=False)
    assert "takes no more replies" in " ".join(r.stderr.split()) and "--reason" in r.stderr


def test_pull_warns_when_the_server_seals_to_a_key_the_body_does_not_hold(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    data, inbox = tmp_path / "data", tmp_path / "inbox"
    key = tmp_path / "body.key.json"
    run(data, "complaints", "keygen", "--out", str(key), *FAST)
    run(data, "complaints", "publish-key", "--key", str(key))
    pulled = json.loads(run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), "--json").stdout)
    assert pulled["warnings"] == []
    # Someone with the server's database rotates to a key of their own.
    _, intruder = crypto.generate_body_key()
    db = Database(f"sqlite:///{data / 'assay.db'}")
    with db.write() as s:
        service.publish_key(s, intruder, today=date.today())
    db.dispose()
    r = run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), "--json")
    (warning,) = json.loads(r.stdout)["warnings"]
    assert crypto.key_id(intruder) in warning and "none of the key files given" in warning
    assert "warning:" in r.stderr


def _set_up(tmp_path: Path, run) -> tuple[Path, Path, Database, bytes]:  # type: ignore[no-untyped-def]
    data, key = tmp_path / "data", tmp_path / "body.key.json"
    run(data, "complaints", "keygen", "--out", str(key), *FAST)
    run(data, "complaints", "publish-key", "--key", str(key))
    return data, key, Database(f"sqlite:///{data / 'assay.db'}"), keyfile.read_key_file_public(key)


def test_a_box_that_does_not_open_is_kept_aside_and_later_complaints_still_arrive(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    # Anyone can seal a box to the body's public key and the server cannot look inside: a malformed one must not
    # stop every later pull (the cursor would never pass it).
    from nacl.public import PublicKey, SealedBox

    data, key, db, public = _set_up(tmp_path, run)
    kid = crypto.key_id(public)
    garbage = SealedBox(PublicKey(public)).encrypt(b"not a complaint, no padding")
    with db.write() as s:
        service.submit_complaint(
            s,
            system_id="s",
            key_id=kid,
            ciphertext=garbage,
            lookup=os.urandom(32),
            reply_public_key=os.urandom(32),
            today=date.today(),
            max_bytes=10_000,
        )
    file_complaint(db, public, kid, crypto.ComplaintContent(fields={"what": "the real one"}, system_id="s"))
    db.dispose()
    inbox = tmp_path / "inbox"
    r = run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), "--json")
    bad, good = json.loads(r.stdout)["written"]
    assert "malformed padding" in bad["undecryptable"] and "undecryptable" not in good
    assert (inbox / bad["complaint_id"] / f"m{bad['id']:06d}-complaint.undecryptable").read_bytes() == garbage
    assert "the real one" in Path(good["path"]).read_text()
    assert (
        json.loads(run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), "--json").stdout)[
            "written"
        ]
        == []
    )


def test_what_an_altered_database_sends_cannot_write_outside_the_inbox_or_bring_a_second_reply_key(  # type: ignore[no-untyped-def]
    tmp_path: Path, run
) -> None:
    from assay.complaints.models import Complaint, ComplaintMessage

    data, key, db, public = _set_up(tmp_path, run)
    kid = crypto.key_id(public)
    file_complaint(db, public, kid, crypto.ComplaintContent(fields={"what": "genuine"}, system_id="s"))
    with db.read() as s:
        (cid,) = s.scalars(select(Complaint.id)).all()
    # A second "complaint" under the same id, sealed by someone else to the body's public key with their reply key.
    _, intruder = crypto.generate_body_key()
    forged = crypto.seal(
        crypto.pack_complaint(
            crypto.ComplaintContent(fields={"what": "forged"}, system_id="s", reply_public_key=intruder)
        ),
        public,
    )
    with db.write() as s:
        s.add(
            ComplaintMessage(
                complaint_id=cid,
                author="complainant",
                kind="complaint",
                day=date.today(),
                key_id=kid,
                ciphertext=forged,
                digest=os.urandom(32),
            )
        )
    inbox = tmp_path / "inbox"
    run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox))
    r = run(data, "complaints", "reply", cid, "--message", "hello", "--inbox", str(inbox), ok=False)
    assert "holds 2 complaints" in " ".join(r.stderr.split())
    # A message whose complaint id is a path.
    with db.write() as s:
        s.add(
            Complaint(
                id="../../escaped",
                system_id="s",
                lookup=os.urandom(32),
                reply_public_key=os.urandom(32),
                status="received",
                received_on=date.today(),
            )
        )
        s.flush()
        s.add(
            ComplaintMessage(
                complaint_id="../../escaped",
                author="complainant",
                kind="complaint",
                day=date.today(),
                key_id=kid,
                ciphertext=forged,
                digest=os.urandom(32),
            )
        )
    db.dispose()
    r = run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inbox), ok=False)
    assert "malformed id" in r.stderr
    assert not (tmp_path / "escaped").exists() and not (inbox.parent.parent / "escaped").exists()


def test_pull_writes_outside_the_working_folder_by_default_and_warns_about_a_git_checkout(  # type: ignore[no-untyped-def]
    tmp_path: Path, run, monkeypatch
) -> None:
    """Issue 11 item 7: plaintext complaints never land in the folder the command runs in (a git checkout)."""
    from assay.complaints.client import default_inbox, inbox_exposure

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    data = tmp_path / "data"
    key = tmp_path / "offline" / "body.key.json"
    out = json.loads(run(data, "complaints", "keygen", "--out", str(key), *FAST, "--json").stdout)
    run(data, "complaints", "publish-key", "--key", str(key))
    db = Database(f"sqlite:///{data / 'assay.db'}")
    file_complaint(
        db,
        keyfile.read_key_file_public(key),
        out["key_id"],
        crypto.ComplaintContent(fields={"what": "A plaintext that must not be committed"}, system_id="s"),
    )
    pulled = json.loads(run(data, "complaints", "pull", "--key", str(key), "--json").stdout)
    assert pulled["inbox"] == str(tmp_path / "xdg" / "assay" / "complaints-inbox") == str(default_inbox())
    assert pulled["warnings"] == [] and len(pulled["written"]) == 1
    assert list(checkout.iterdir()) == [checkout / ".git"]  # nothing written where the command ran

    # Told to write into the checkout, it still does, but says what could happen, unless git ignores the folder.
    inside = checkout / "complaints-inbox"
    r = run(data, "complaints", "pull", "--key", str(key), "--inbox", str(inside), "--json")
    assert any("inside the git checkout" in w for w in json.loads(r.stdout)["warnings"])
    (checkout / ".gitignore").write_text("/complaints-inbox/\n")
    assert inbox_exposure(inside) is None
    assert inbox_exposure(tmp_path / "elsewhere") is None
    db.dispose()


def test_the_repository_ignores_the_old_default_inbox() -> None:
    root = Path(__file__).parents[2]
    if not (root / ".git").exists():  # an unpacked release: there is no git to ask
        assert "/complaints-inbox/" in (root / ".gitignore").read_text().splitlines()
        return
    probe = root / "complaints-inbox" / "abc" / "m000001-complaint.txt"
    assert subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "--no-index", str(probe)]).returncode == 0
