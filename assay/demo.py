"""The demo house: the register's example systems, then the other parts' demos on top of them, loaded idempotently.

``make run`` calls ``assay demo load``, which calls :func:`load_demo`: the register's demo
(:mod:`assay.register.demo`), then the provenance part's marked demo images, then a demo oversight key for
complaints. It lives above the parts because provenance and complaints build on the register: the register's
own demo must not import them. Running it again changes nothing::

    result = load_demo(db, config)
    result.published, result.updated, result.unchanged

A second ``make run`` must start serving within seconds, so an unchanged demo is skipped without even opening
the database: after a load, :func:`write_stamp` records a fingerprint of everything the load depends on (the
example files, the rules, the demo code, the migrations, the database file and the public URL) in
``<data_dir>/demo/loaded.json``, and :func:`loaded_stamp` returns it while it still matches. Only the embedded
SQLite database is fingerprinted; with PostgreSQL every load takes the full (idempotent) path. This module
imports nothing heavy at the top for that reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.config import Config
from assay.register.demo import EXAMPLES, DemoResult
from assay.register.demo import load_demo as load_register_demo

if TYPE_CHECKING:
    from assay.db import Database

__all__ = ["EXAMPLES", "DemoResult", "fingerprint", "load_demo", "loaded_stamp", "write_stamp"]


def load_demo(
    db: Database,
    config: Config | None = None,
    *,
    examples: Path = EXAMPLES,
    provenance: bool = True,
    complaints: bool = True,
) -> DemoResult:
    """Load the register's examples, then (by default) the provenance and complaints demos.

    With ``provenance`` (the default), the provenance part's demo (marked images) is loaded afterwards; with
    ``complaints`` (the default), a demo oversight key is published unless a key is published already.
    """
    result = load_register_demo(db, examples=examples)
    if provenance:
        _load_provenance_demo(db, config, result)
    if complaints:
        from assay.complaints.demo import load_demo as load_complaints_demo

        # A demo oversight key, so the "File a complaint" forms work at once (marked as a demo everywhere).
        result.extra["complaints"] = load_complaints_demo(db, config or Config.from_env())
    return result


def _load_provenance_demo(db: Database, config: Config | None, result: DemoResult) -> None:
    # The provenance part adds marked demo images for the demo systems, when it is installed.
    try:
        from assay.provenance.demo import load_demo as load_provenance_demo
    except ModuleNotFoundError as exc:
        # Only a missing provenance part is expected; a broken one must not pass silently.
        if exc.name not in ("assay.provenance", "assay.provenance.demo"):
            raise
        return
    outcome = load_provenance_demo(db, config or Config.from_env())
    if outcome is not None:
        result.extra["provenance"] = outcome if isinstance(outcome, (dict, list, str, int)) else str(outcome)


# --- The fingerprint of a loaded demo --------------------------------------------------------------------------

STAMP = Path("demo") / "loaded.json"
_PACKAGE = Path(__file__).resolve().parent  # the assay package
# What a load reads besides the examples: the rules it screens with, the demo code, the migrations it runs.
_INPUTS = (
    "register/data/red_lines.yaml",
    "register/data/obligations.yaml",
    "register/data/questionnaire.yaml",
    "demo.py",
    "register/demo.py",
    "provenance/demo.py",
    "complaints/demo.py",
)
_DEMO_IMAGES = Path("demo") / "images"


def fingerprint(config: Config, *, examples: Path = EXAMPLES) -> str | None:
    """A digest of everything an unchanged demo load depends on, or None when it cannot be had cheaply
    (a database other than the data folder's SQLite file, or none yet)."""
    from assay import __version__

    if config.database_url and not config.database_url.startswith("sqlite:"):
        return None
    db_path = Path(config.resolved_database_url.removeprefix("sqlite:///"))
    try:
        db_stat = db_path.stat()
    except OSError:
        return None
    h = hashlib.sha256()

    def add(*parts: object) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode()
            h.update(len(data).to_bytes(8, "big") + data)

    add(__version__, config.base_url, config.resolved_database_url, db_stat.st_dev, db_stat.st_ino)
    for path in sorted(examples.glob("*.yaml")):
        add(path.name, path.read_bytes())
    for name in _INPUTS:
        path = _PACKAGE / name
        add(name, path.read_bytes() if path.exists() else b"")
    add(*sorted(os.listdir(_PACKAGE / "db" / "migrations" / "versions")))
    images = Path(config.data_dir) / _DEMO_IMAGES
    add(*sorted(p.name for p in images.iterdir()) if images.is_dir() else ["(no images)"])
    return h.hexdigest()


def loaded_stamp(config: Config, *, examples: Path = EXAMPLES) -> dict[str, Any] | None:
    """The record of the last demo load, if nothing it depends on changed since; else None."""
    try:
        stamp = json.loads((Path(config.data_dir) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != fingerprint(config, examples=examples):
        return None
    return stamp


def write_stamp(config: Config, result: DemoResult, *, examples: Path = EXAMPLES) -> None:
    """Record that the demo is loaded (after a successful load), for :func:`loaded_stamp`."""
    from datetime import UTC, datetime

    from assay.files import replace_durably

    digest = fingerprint(config, examples=examples)
    if digest is None:
        return
    path = Path(config.data_dir) / STAMP
    path.parent.mkdir(parents=True, exist_ok=True)
    systems = sorted({*result.published, *result.updated, *result.unchanged})
    data = json.dumps(
        {
            "fingerprint": digest,
            "systems": systems,
            "loaded_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        indent=2,
    ).encode()
    replace_durably(path, data, mode=0o644)
