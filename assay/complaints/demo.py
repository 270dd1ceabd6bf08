"""The demo oversight key: so that complaints work right after ``make run``, and nobody mistakes it for real.

``assay demo load`` calls :func:`load_demo`. If no oversight key is published yet, it makes a key pair, writes
the key file to ``<data dir>/demo/oversight-body-DEMO.key.json`` under the public passphrase
:data:`DEMO_PASSPHRASE`, and publishes the public half marked as a demo key (in the database and in its
transparency-log entry). The complaint form, ``assay complaints keys`` and the log then say it is a demo key.

It never touches a register whose oversight body published its own key; and the body's own key replaces the
demo key without ``--rotate`` (complaints sealed to the demo key stay readable with the demo key file)::

    outcome = load_demo(db, config)
    outcome["key_id"], outcome["key_file"], outcome["passphrase"]
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.complaints import crypto, keyfile, service
from assay.config import Config
from assay.db import Database

__all__ = ["DEMO_KEY_FILE", "DEMO_PASSPHRASE", "load_demo"]

# Public on purpose, printed by 'assay demo load' and written in docs/complaints.md: this key protects nothing.
DEMO_PASSPHRASE = "demo-passphrase-not-secret"
DEMO_KEY_FILE = Path("demo") / "oversight-body-DEMO.key.json"
# The passphrase is public, so a slow key derivation would protect nothing and only slow down 'make run'.
_DEMO_KDF = keyfile.KeyFileKdf(opslimit=1, memlimit=8 * 1024 * 1024)


def load_demo(db: Database, config: Config) -> dict[str, Any]:
    """Publish a demo oversight key unless a key is published already; idempotent."""
    path = config.data_dir / DEMO_KEY_FILE
    with db.read() as session:
        current = service.current_key(session)
    if current is not None and not current.demo:
        return {"skipped": "the oversight body's own key is published", "message": _skipped(current)}
    if current is not None and path.is_file() and keyfile.read_key_file_public(path) == current.public_key:
        return _outcome(current, path, changed=False)
    # No key yet, or a demo key whose file is gone (a new data folder over an old database): a fresh demo key.
    private, public = crypto.generate_body_key()
    if path.exists():
        path.rename(path.with_name(path.name + f".replaced-{datetime.now(UTC):%Y%m%d%H%M%S}"))
    keyfile.write_key_file(path, private, DEMO_PASSPHRASE, kdf=_DEMO_KDF)
    with db.write() as session:
        view = service.publish_key(session, public, today=datetime.now(UTC).date(), demo=True)
    return _outcome(view, path, changed=True)


def _outcome(key: service.KeyView, path: Path, *, changed: bool) -> dict[str, Any]:
    return {
        "demo_key": True,
        "key_id": key.key_id,
        "fingerprint": key.fingerprint,
        "log_index": key.log_index,
        "key_file": str(path),
        "passphrase": DEMO_PASSPHRASE,
        "changed": changed,
        "message": (
            f"DEMO oversight key {key.key_id} {'published' if changed else 'in place'} (log entry {key.log_index}); "
            f"its passphrase is public: '{DEMO_PASSPHRASE}'. Read demo complaints with "
            f"ASSAY_COMPLAINTS_PASSPHRASE={DEMO_PASSPHRASE} assay complaints pull --key {path}. "
            "For real complaints the oversight body publishes its own key (docs/complaints.md)."
        ),
    }


def _skipped(key: service.KeyView) -> str:
    return f"the oversight body's own key {key.key_id} is published; no demo key"
