"""The register's side of a version-3 check, for the benchmarks: system keys with their providers and namespaces,
and the real mark check (``assay.provenance.keys.FieldMaterial.accept``) a field's message must pass."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RegisterCheck:
    material: Any  # assay.provenance.keys.FieldMaterial
    by_id: dict[str, Any]  # key id -> WatermarkKey
    payload: int  # what the last key's system embeds for one of its mark ids

    @property
    def secret(self) -> bytes:
        """The register's own field secret (its online marks)."""
        return bytes(self.material.secret)

    @property
    def kit_secret(self) -> bytes:
        """The offline kits' field secret."""
        return bytes(self.material.kit_secret)

    @property
    def secrets(self) -> tuple[bytes, ...]:
        """What a check reads: both secrets."""
        return tuple(self.material.secrets)

    def accept(self, key_id: str, payload: int) -> bool:
        return bool(self.material.accept(self.by_id[key_id], payload))


def register_check(
    ring_keys: list[tuple[str, bytes]], seed: bytes = b"bench: the register's master key"
) -> RegisterCheck:
    """One provider and one namespace per key (namespace n for the n-th key), the field secret derived from a
    master key as the register derives it (the register's and its kits'), and a minted mark of the last key's system."""
    from assay.provenance.keys import (
        FieldMaterial,
        MarkId,
        WatermarkKey,
        field_secret,
        kit_field_secret,
        namespace_key,
    )

    master = hashlib.sha256(seed).digest()
    by_id = {
        k: WatermarkKey(k, v, "org.assay.watermark.2", provider_id=f"p{i}", system_id=k)
        for i, (k, v) in enumerate(ring_keys)
    }
    namespaces = {n: (f"p{n - 1}", namespace_key(master, n)) for n in range(1, len(ring_keys) + 1)}
    last = len(ring_keys)
    mark = MarkId.mint(namespace=last, sequence=7, key=namespaces[last][1])
    material = FieldMaterial(secret=field_secret(master), namespaces=namespaces, kit_secret=kit_field_secret(master))
    return RegisterCheck(material, by_id, by_id[ring_keys[-1][0]].payload_of(mark))


def field_index(folder: Any, recorded: dict[str, int], others: int = 1_000_000) -> tuple[Any, Any]:
    """The register's index of its marks' field messages (``assay.provenance.fieldindex.FieldIndex``) on a real
    SQLite file in ``folder``: the table and index its migration makes, holding ``recorded`` (key id -> field
    message) and ``others`` random marks' messages besides, so a lookup costs what it costs in a large register.
    Returns the index and its database, which the caller keeps (the index holds it weakly)."""
    import sqlite3
    from pathlib import Path

    import numpy as np

    from assay.db import Database
    from assay.provenance.fieldindex import FieldIndex
    from assay.provenance.models import FieldMessage

    path = Path(folder) / "index.sqlite"
    rng = np.random.default_rng(9)
    rows = [(f"{i:016x}", f"{m:016x}", f"{k:016x}") for i, (m, k) in enumerate(rng.integers(0, 1 << 63, (others, 2)))]
    rows += [(f"{others + i:016x}", f"{message:016x}", key_id) for i, (key_id, message) in enumerate(recorded.items())]
    db = Database(f"sqlite:///{path}")
    FieldMessage.__table__.create(db.engine)  # the model's table and index (its marks' table is not needed here)
    with sqlite3.connect(path) as conn:  # without the foreign-key check that would want the marks' table
        conn.executemany("INSERT INTO provenance_field_messages (mark_id, message, key_id) VALUES (?, ?, ?)", rows)
    return FieldIndex(db), db
