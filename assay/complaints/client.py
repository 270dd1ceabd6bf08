"""The oversight body's side: where complaints come from (the server's API, or the local database) and
what ``assay complaints pull`` does with them on the body's own machine.

Two backends with one contract, both returning the JSON shapes of the admin API:

- :class:`ApiBackend` talks to ``/api/v1/complaints/...`` with an admin token (the body's usual set-up: its
  private key never comes near the server);
- :class:`LocalBackend` works on a database the CLI opens directly (for an operator on the server, and tests).

Decryption happens only here, in :func:`pull`, with key files given by the body.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from assay.complaints import crypto, keyfile, service
from assay.complaints.service import SealedReply
from assay.errors import AssayError, InvalidInput, StorageError, VerificationError

__all__ = [
    "ApiBackend",
    "Backend",
    "LocalBackend",
    "PullResult",
    "default_inbox",
    "inbox_exposure",
    "pull",
    "pulled_reply_key",
    "seal_reply",
]


class Backend(Protocol):
    def keys(self) -> list[dict[str, Any]]: ...
    def publish_key(self, public_key: bytes) -> dict[str, Any]: ...
    def inbox(self, *, after: int, limit: int) -> dict[str, Any]: ...
    def cases(self, *, status: str | None = None, system_id: str | None = None) -> dict[str, Any]: ...
    def case(self, complaint_id: str) -> dict[str, Any]: ...
    def reply(self, complaint_id: str, reply: SealedReply) -> dict[str, Any]: ...
    def set_status(self, complaint_id: str, status: str, reason: SealedReply | None) -> dict[str, Any]: ...


class LocalBackend:
    def __init__(self, db: Any, *, today: Callable[[], date] | None = None, max_bytes: int = 20_000_000) -> None:
        from datetime import UTC, datetime

        self.db = db
        self.today = today or (lambda: datetime.now(UTC).date())
        self.max_bytes = max_bytes

    def keys(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [k.as_dict() for k in service.list_keys(s)]

    def publish_key(self, public_key: bytes) -> dict[str, Any]:
        with self.db.write() as s:
            return service.publish_key(s, public_key, today=self.today()).as_dict()

    def inbox(self, *, after: int, limit: int) -> dict[str, Any]:
        with self.db.read() as s:
            messages = service.inbox(s, after=after, limit=limit)
        return {"messages": [m.as_dict() for m in messages], "next_after": messages[-1].id if messages else after}

    def cases(self, *, status: str | None = None, system_id: str | None = None) -> dict[str, Any]:
        today = self.today()
        with self.db.read() as s:
            views = service.list_complaints(s, status=status, system_id=system_id)
        return {"as_of": today.isoformat(), "complaints": [v.as_dict(today, with_messages=False) for v in views]}

    def case(self, complaint_id: str) -> dict[str, Any]:
        from assay.errors import NotFound

        with self.db.read() as s:
            view = service.get_complaint(s, complaint_id)
        if view is None:
            raise NotFound(f"no complaint with id {complaint_id!r}", hint="list them with 'assay complaints list'")
        return view.as_dict(self.today())

    def reply(self, complaint_id: str, reply: SealedReply) -> dict[str, Any]:
        with self.db.write() as s:
            return service.add_reply(s, complaint_id, reply, today=self.today(), max_bytes=self.max_bytes).as_dict()

    def set_status(self, complaint_id: str, status: str, reason: SealedReply | None) -> dict[str, Any]:
        today = self.today()
        with self.db.write() as s:
            view = service.change_status(s, complaint_id, status, today=today, reason=reason, max_bytes=self.max_bytes)
        return view.as_dict(today, with_messages=False)


class ApiBackend:
    """The server's admin API. ``token`` is an admin token made with 'assay tokens create --admin'."""

    def __init__(self, base_url: str, token: str, *, transport: Any = None, timeout: float = 60.0) -> None:
        import httpx

        if not token:
            raise InvalidInput(
                "talking to a server needs an admin token",
                hint="give --token (or ASSAY_COMPLAINTS_TOKEN) made with 'assay tokens create --admin'",
            )
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            r = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StorageError(
                f"cannot reach {self.base_url}: {exc}", hint="check --server (ASSAY_COMPLAINTS_SERVER) and your network"
            ) from None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            answered = AssayError(
                err.get("message") or f"the server answered {r.status_code}", hint=err.get("hint", "")
            )
            answered.code = err.get("code", "error")
            raise answered
        if not isinstance(body, dict):
            raise StorageError(
                f"{self.base_url} did not answer with JSON", hint="check --server: is it an Assay register?"
            )
        return body

    def keys(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/complaints/keys")["keys"])

    def publish_key(self, public_key: bytes) -> dict[str, Any]:
        return self._call("POST", "/api/v1/complaints/keys", json={"public_key": crypto.b64(public_key)})

    def inbox(self, *, after: int, limit: int) -> dict[str, Any]:
        return self._call("GET", "/api/v1/complaints/inbox", params={"after": after, "limit": limit})

    def cases(self, *, status: str | None = None, system_id: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in (("status", status), ("system_id", system_id)) if v}
        return self._call("GET", "/api/v1/complaints/cases", params=params)

    def case(self, complaint_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/complaints/cases/{complaint_id}")

    def reply(self, complaint_id: str, reply: SealedReply) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/complaints/cases/{complaint_id}/replies", json=_reply_json(reply))

    def set_status(self, complaint_id: str, status: str, reason: SealedReply | None) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if reason is not None:
            body["reason"] = _reply_json(reason)
        return self._call("POST", f"/api/v1/complaints/cases/{complaint_id}/status", json=body)


def _reply_json(reply: SealedReply) -> dict[str, str]:
    return {
        "ciphertext": crypto.b64(reply.ciphertext),
        "body_copy": crypto.b64(reply.body_copy),
        "body_copy_key_id": reply.body_copy_key_id,
    }


def current_key(backend: Backend) -> dict[str, Any]:
    current = [k for k in backend.keys() if not k.get("retired_on")]
    if not current:
        raise service.ChannelNotReady()
    return current[-1]


def seal_reply(
    backend: Backend, complaint_id: str, text: str, *, inbox: Path, warn: Callable[[str], None] | None = None
) -> SealedReply:
    """Seal ``text`` to the complaint's reply key (for the complainant) and to the body's current key (its copy).

    1. The complaint must exist on the server.
    2. It must have been pulled into ``inbox``: the reply key sealed inside it (made by the complainant's
       browser, out of the server's reach) must equal the one the server gives. A server that swapped it in
       its database could read every reply; the mismatch stops the reply before anything is sent.
    """
    text = text.strip()
    if not text:
        raise InvalidInput("the reply is empty", hint="give the reply's text with --message or --message-file")
    if len(text) > 50_000:
        raise InvalidInput("the reply is longer than 50,000 characters", hint="shorten it")
    case = backend.case(complaint_id)
    reply_key = crypto.b64decode(case["reply_public_key"], path="reply_public_key")
    sealed_inside = pulled_reply_key(inbox, complaint_id)
    if sealed_inside is None:
        if warn:
            warn(
                f"complaint {complaint_id} does not carry its reply key inside (it was sealed by an older form); "
                "the reply is sealed to the key the server gives, which the server could have swapped"
            )
    elif sealed_inside != reply_key:
        raise VerificationError(
            f"the server gives complaint {complaint_id} a reply key that differs from the one sealed inside the "
            "complaint; nothing was sent",
            hint="the server's database was altered: a reply sealed to its key could be read by whoever did it. "
            "Do not reply through this server; tell its operator and compare the database with a backup",
        )
    key = current_key(backend)
    blob = crypto.pack_message(text)
    return SealedReply(
        ciphertext=crypto.seal(blob, reply_key),
        body_copy=crypto.seal(blob, crypto.b64decode(key["public_key"], path="public_key")),
        body_copy_key_id=key["key_id"],
    )


def pulled_reply_key(inbox: Path, complaint_id: str) -> bytes | None:
    """The reply key found inside a complaint pulled and decrypted into ``inbox``; None if it carries none."""
    folder = inbox / complaint_id
    docs = []
    for path in sorted(folder.glob("m*.json")) if _SAFE_ID.match(complaint_id) and folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("kind") == "complaint":
                key = doc.get("reply_public_key")
                docs.append(crypto.b64decode(key, path="reply_public_key") if key else None)
        except (OSError, ValueError, AttributeError, InvalidInput):
            raise InvalidInput(f"{path} is damaged", hint="move it away and pull again into an empty --inbox") from None
    if not docs:
        raise InvalidInput(
            f"complaint {complaint_id} is not in the inbox {inbox}",
            hint=f"pull it first ('assay complaints pull --key FILE --inbox {inbox}', or give --inbox where you "
            "pulled it): replies are sealed to the key inside the complaint, which only your pull decrypts",
        )
    if len(docs) > 1:
        # Anyone can seal a message to the body's public key; a second "complaint" would bring its own reply key.
        raise VerificationError(
            f"the inbox holds {len(docs)} complaints under the id {complaint_id}; a complaint "
            "has one, and the others were added by someone else",
            hint="do not reply through this server; tell its operator and compare the database with a backup",
        )
    return docs[0]


# ---------------------------------------------------------------------------------------------------------
# pull: download, decrypt, write into the body's local inbox folder


def default_inbox(environ: dict[str, str] | None = None) -> Path:
    """Where decrypted complaints go unless told otherwise: the user's own data folder, never the working folder.

    ``$XDG_DATA_HOME/assay/complaints-inbox`` (``~/.local/share/assay/complaints-inbox``). The old default,
    ``./complaints-inbox``, put plaintext complaints into whatever folder the command ran in: usually a git
    checkout of Assay, one ``git add .`` away from a public repository.
    """
    env = os.environ if environ is None else environ
    base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return base / "assay" / "complaints-inbox"


def inbox_exposure(inbox: Path) -> str | None:
    """Why ``inbox`` is a risky place for plaintext complaints, or None.

    A folder inside a git work tree that git does not ignore is one ``git add`` away from being committed
    (and pushed). Git is asked only when it is installed; without it, any folder in a work tree is reported.
    """
    import shutil
    import subprocess

    path = inbox.expanduser().resolve()
    top = next((p for p in (path, *path.parents) if (p / ".git").exists()), None)
    if top is None:
        return None
    git = shutil.which("git")
    if git is not None:
        # check-ignore answers 0 when the path is ignored, 1 when it is not, 128 on errors (then: warn).
        probe = path / ".cursor"
        done = subprocess.run(
            [git, "-C", str(top), "check-ignore", "-q", "--no-index", str(probe)],
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            return None
    return (
        f"the inbox {inbox} is inside the git checkout {top} and git does not ignore it: decrypted complaints "
        "could be committed and published; choose a folder outside it (the default is "
        f"{default_inbox()}) or add the folder to .gitignore"
    )


@dataclass
class KeyRing:
    """The body's key files, opened lazily (each passphrase asked once, only if a message needs that key)."""

    files: list[Path]
    passphrase: Callable[[Path], str]
    _opened: dict[str, bytes] = field(default_factory=dict)
    _index: dict[str, Path] | None = None

    def _files_by_id(self) -> dict[str, Path]:
        if self._index is None:
            self._index = {crypto.key_id(keyfile.read_key_file_public(f)): f for f in self.files}
        return self._index

    def holds(self, public_key: bytes) -> bool:
        """Whether one of the key files is this public key (no passphrase needed)."""
        path = self._files_by_id().get(crypto.key_id(public_key))
        return path is not None and keyfile.read_key_file_public(path) == public_key

    def private_key(self, kid: str) -> bytes:
        if kid in self._opened:
            return self._opened[kid]
        path = self._files_by_id().get(kid)
        if path is None:
            raise InvalidInput(
                f"a message is sealed to key {kid}, and none of the key files given is that key",
                hint="add --key with the key file of that id (old keys stay needed after a rotation)",
            )
        private, _ = keyfile.load_key_file(path, self.passphrase(path))
        self._opened[kid] = private
        return private


@dataclass
class PullResult:
    written: list[dict[str, Any]]
    cursor: int
    inbox: Path
    warnings: list[str] = field(default_factory=list)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def pull(backend: Backend, ring: KeyRing, inbox: Path, *, batch: int = 50) -> PullResult:
    """Fetch every message after the inbox's cursor, decrypt it, and write it under ``inbox/<complaint id>/``.

    The cursor (``inbox/.cursor``) advances only past messages written completely, so an interrupted pull
    (a wrong passphrase, a missing key file, the network) resumes where it stopped and writes nothing twice.
    A message that cannot be read with the right key is kept aside and reported (``undecryptable``), not
    retried forever.
    """
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    cursor_file = inbox / ".cursor"
    try:
        cursor = int(cursor_file.read_text().strip() or 0) if cursor_file.exists() else 0
    except ValueError:
        raise InvalidInput(f"{cursor_file} is damaged", hint="delete it to pull everything again") from None
    written: list[dict[str, Any]] = []
    warnings = _check_served_key(backend, ring)
    exposure = inbox_exposure(inbox)
    if exposure:
        warnings.append(exposure)
    while True:
        page = backend.inbox(after=cursor, limit=batch)
        messages = page.get("messages", [])
        if not messages:
            break
        for m in messages:
            if not isinstance(m.get("id"), int) or m["id"] <= cursor:
                raise VerificationError(
                    f"the server sent message {str(m.get('id'))[:20]!r} after cursor {cursor}",
                    hint="the server is not answering as an Assay register: check --server",
                )
            written.append(_write_message(m, ring, inbox))
            cursor = m["id"]
            cursor_file.write_text(f"{cursor}\n")
        if len(messages) < batch:
            break
    return PullResult(written=written, cursor=cursor, inbox=inbox, warnings=warnings)


def _check_served_key(backend: Backend, ring: KeyRing) -> list[str]:
    """The key the server seals new complaints to must be one of the body's: a swapped key shows here first."""
    try:
        served = current_key(backend)
    except service.ChannelNotReady:
        return []
    if served.get("demo"):
        return [
            f"the server seals new complaints to the DEMO key {served['key_id']} of 'assay demo load', whose "
            "passphrase is public: anyone can read them. Publish the oversight body's own key before real "
            "complaints arrive"
        ]
    if ring.holds(crypto.b64decode(served["public_key"], path="public_key")):
        return []
    return [
        f"the server seals new complaints to key {served['key_id']} (fingerprint {served['fingerprint']}), "
        "which is none of the key files given: if the oversight body did not publish it, complainants are "
        "encrypting to someone else; compare it with the transparency log and your key files"
    ]


_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KINDS = ("complaint", "information", "reply")


def _write_message(m: dict[str, Any], ring: KeyRing, inbox: Path) -> dict[str, Any]:
    """Decrypt one message into the inbox. A message that does not open with the right key, or opens to
    something malformed, is kept aside as ``.undecryptable`` (anyone can seal a box to the body's public key;
    one such box must not stop every later complaint); a missing key file or a wrong passphrase stops the pull."""
    # 1. The server's own fields name files here: they must be plain names (a server is not trusted).
    if not (
        isinstance(m.get("complaint_id"), str)
        and _SAFE_ID.match(m["complaint_id"])
        and m.get("kind") in _KINDS
        and isinstance(m.get("id"), int)
        and m.get("author") in ("complainant", "body")
    ):
        raise VerificationError(
            f"the server listed message {str(m.get('id'))[:20]!r} with a malformed id, kind or "
            "author; nothing was written for it",
            hint="the server is not answering as an Assay register: check --server and the "
            "server itself before pulling again",
        )
    folder = inbox / m["complaint_id"]
    stem = f"m{m['id']:06d}-{m['kind']}"
    summary: dict[str, Any] = {
        "id": m["id"],
        "complaint_id": m["complaint_id"],
        "kind": m["kind"],
        "author": m["author"],
        "day": m["day"],
        "path": str(folder / stem),
    }
    body = m["author"] == "body"
    sealed = crypto.b64decode((m.get("body_copy") if body else m.get("ciphertext")) or "", path="ciphertext")
    # 2. The key: a missing key file or a wrong passphrase raises here, and the pull stops to be run again.
    private = ring.private_key(str(m.get("body_copy_key_id") if body else m.get("key_id")))
    # Only now the complaint's folder: a pull stopped above leaves no empty folder behind.
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    # 3. The box and what it holds: a failure is about this message alone.
    try:
        opened = crypto.open_sealed(sealed, private)
        text = crypto.unpack_message(opened) if body else None
        content = None if body else crypto.unpack_complaint(opened)
    except crypto.UndecryptableError as exc:
        _write_private(folder / f"{stem}.undecryptable", sealed)
        _write_private(
            folder / f"{stem}.txt",
            f"This message could not be read: {exc.message}\n"
            f"({exc.hint})\nIts ciphertext is kept in {stem}.undecryptable.\n".encode(),
        )
        summary.update(path=str(folder / f"{stem}.txt"), undecryptable=exc.message)
        return summary
    if text is not None:
        _write_private(folder / f"{stem}.txt", text.encode())
        summary["path"] = str(folder / f"{stem}.txt")
        return summary
    assert content is not None
    attachments = []
    if content.attachments:
        att_dir = folder / f"{stem}-attachments"
        att_dir.mkdir(exist_ok=True, mode=0o700)
        for i, a in enumerate(content.attachments, 1):
            name = f"{i:02d}-{a.name}"
            _write_private(att_dir / name, a.data)
            attachments.append(
                {
                    "file": f"{stem}-attachments/{name}",
                    "name": a.name,
                    "type": a.media_type,
                    "size": len(a.data),
                    "sha256": a.sha256,
                    "metadata": a.metadata,
                }
            )
    doc = {
        "complaint_id": m["complaint_id"],
        "message_id": m["id"],
        "kind": content.kind,
        "day": m["day"],
        "system_id": content.system_id,
        "encrypted_in": content.mode,
        "fields": content.fields,
        "attachments": attachments,
    }
    if content.reply_public_key:
        # Checked by 'assay complaints reply' against the key the server gives (see seal_reply).
        doc["reply_public_key"] = crypto.b64(content.reply_public_key)
    _write_private(folder / f"{stem}.json", json.dumps(doc, indent=2, ensure_ascii=False).encode())
    _write_private(folder / f"{stem}.txt", _readable(doc).encode())
    summary.update(system_id=content.system_id, attachments=len(attachments), path=str(folder / f"{stem}.txt"))
    return summary


_TITLES = {
    "what": "What happened",
    "when": "When",
    "effect": "How it affected them",
    "ask": "What they ask",
    "contact": "Contact details",
}


def _readable(doc: dict[str, Any]) -> str:
    lines = [
        f"{'Complaint' if doc['kind'] == 'complaint' else 'Added information'} {doc['complaint_id']} "
        f"about {doc['system_id'] or '(see the complaint)'}, received {doc['day']} "
        f"(encrypted in the {doc['encrypted_in']})",
        "",
    ]
    for key, title in _TITLES.items():
        if doc["fields"].get(key):
            lines += [f"## {title}", doc["fields"][key], ""]
    for a in doc["attachments"]:
        note = "metadata removed in the browser" if a["metadata"] == "stripped" else "as sent, metadata not removed"
        lines.append(f"Attachment: {a['file']} ({a['type']}, {a['size']} bytes, {note})")
    return "\n".join(lines).rstrip() + "\n"
