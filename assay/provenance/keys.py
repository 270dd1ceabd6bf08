"""Mark identifiers and the keys behind them.

A mark is a 64-bit watermark payload laid out as::

    namespace (20 bits) | sequence (28 bits) | tag (16 bits)

- ``namespace``: a number the register gives a provider (a provider may hold several: one for marking through
  the register, one per offline marking kit, and a new one whenever a range runs out or a key is revoked);
- ``sequence``: a counter inside the namespace, handed out by the register (online) or leased to a kit;
- ``tag``: the first 16 bits of HMAC-SHA256 under the namespace's key over (namespace, sequence).

The namespace key is derived from the register's master key (HMAC-SHA256 over the namespace number), so the
database holds no secret and every check can recompute it in one step: the cost of checking does not depend
on the number of providers or systems. Only the register and the namespace's owner know the key, so nobody
else can mint a payload that passes the tag check for that namespace; the record the owner registers (with
its token) is what finally ties a mark to a system.

The watermark itself is embedded with one register-wide spreading key, so detection is one pass. Both keys
live in ``<data_dir>/provenance/keys`` (mode 0600, created on first use) and never appear on pages or in logs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, InvalidInput
from assay.files import create_once

__all__ = [
    "NAMESPACE_BITS",
    "SEQUENCE_BITS",
    "TAG_BITS",
    "MarkId",
    "RegisterKeys",
    "WatermarkKey",
    "FieldMaterial",
    "binding_algorithms",
    "existing_master_key",
    "existing_register_keys",
    "field_secret",
    "kit_field_secret",
    "load_field_material",
    "load_watermark_keys",
    "namespace_key",
    "namespace_key_id",
]

NAMESPACE_BITS = 20
SEQUENCE_BITS = 28
TAG_BITS = 16
MAX_NAMESPACE = (1 << NAMESPACE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
_KEY_BYTES = 32


@dataclass(frozen=True, order=True)
class MarkId:
    """A mark identifier: the 64-bit payload the watermark carries."""

    payload: int

    def __post_init__(self) -> None:
        if not (0 <= self.payload < (1 << 64)):
            raise InvalidInput(
                f"a mark payload must be a 64-bit unsigned integer, got {self.payload}",
                hint="mark identifiers are 16 hexadecimal digits",
            )

    @classmethod
    def mint(cls, *, namespace: int, sequence: int, key: bytes) -> MarkId:
        if not (1 <= namespace <= MAX_NAMESPACE):
            raise InvalidInput(f"namespace {namespace} is out of range 1..{MAX_NAMESPACE}")
        if not (1 <= sequence <= MAX_SEQUENCE):
            raise InvalidInput(
                f"sequence {sequence} is out of range 1..{MAX_SEQUENCE}",
                hint="the namespace is exhausted; ask the register for a new marking kit",
            )
        head = (namespace << SEQUENCE_BITS) | sequence
        return cls((head << TAG_BITS) | _tag(key, namespace, sequence))

    @classmethod
    def parse(cls, text: str, *, field: str = "mark_id") -> MarkId:
        """Parse 16 hexadecimal digits (the form used in URLs, records and batches)."""
        t = (text or "").strip().lower()
        if len(t) != 16 or any(c not in "0123456789abcdef" for c in t):
            raise InvalidInput(
                f"{field} must be 16 hexadecimal digits, got {text[:40]!r}",
                hint="copy the mark identifier exactly as 'assay mark' printed it",
            )
        return cls(int(t, 16))

    @classmethod
    def from_binding(cls, value: str) -> MarkId:
        """Parse a C2PA soft-binding value: base64 of the 8 payload bytes, big-endian."""
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise InvalidInput(
                "the soft-binding value is not valid base64",
                hint="send the 'value' of the c2pa.soft-binding block, base64-encoded",
            ) from None
        if len(raw) != 8:
            raise InvalidInput(
                f"the soft-binding value must decode to 8 bytes, got {len(raw)}",
                hint="Assay's binding value is the 64-bit mark, base64-encoded",
            )
        return cls(int.from_bytes(raw, "big"))

    @property
    def hex(self) -> str:
        return f"{self.payload:016x}"

    @property
    def binding_value(self) -> str:
        return base64.b64encode(self.payload.to_bytes(8, "big")).decode()

    @property
    def namespace(self) -> int:
        return self.payload >> (SEQUENCE_BITS + TAG_BITS)

    @property
    def sequence(self) -> int:
        return (self.payload >> TAG_BITS) & MAX_SEQUENCE

    @property
    def tag(self) -> int:
        return self.payload & ((1 << TAG_BITS) - 1)

    def tag_valid(self, key: bytes) -> bool:
        if not (1 <= self.namespace and 1 <= self.sequence):
            return False
        return hmac.compare_digest(
            self.tag.to_bytes(2, "big"), _tag(key, self.namespace, self.sequence).to_bytes(2, "big")
        )

    def __str__(self) -> str:
        return self.hex


def _tag(key: bytes, namespace: int, sequence: int) -> int:
    msg = b"assay-mark-v1" + namespace.to_bytes(4, "big") + sequence.to_bytes(4, "big")
    return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:2], "big")


def namespace_key(master: bytes, namespace: int) -> bytes:
    """The namespace's MAC key, derived from the register's master key (never stored)."""
    return hmac.new(master, b"assay/namespace-key/v1" + namespace.to_bytes(4, "big"), hashlib.sha256).digest()


def field_secret(master: bytes) -> bytes:
    """The register's watermark field secret (``assay.watermark`` version 3), derived from the master key.

    Whoever holds it can read, and so subtract, the field of every system's marks: it never leaves the register
    (offline kits carry system keys, not this, and so make version 2)."""
    return hmac.new(master, b"assay/watermark-field-secret/v1", hashlib.sha256).digest()


def kit_field_secret(master: bytes) -> bytes:
    """The field secret of offline kits (``assay.watermark`` version 3 made without the register), derived from
    the master key: every kit carries it, so every kit holder can read, and so subtract, the field of any kit's
    marks (not the register's: that is :func:`field_secret`, which never leaves the register). Against anyone
    without a kit, a kit's marks resist the removal as the register's do."""
    return hmac.new(master, b"assay/watermark-kit-field-secret/v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class FieldMaterial:
    """What reading version 3's field needs besides the system keys: the field secret, and every namespace's
    owner and tag key, to tell which system key's decryption of a field's message is a mark.

    The field names no key, so the checker decrypts its message with every system key: a decryption is a mark
    only when its namespace exists, belongs to the key's provider, and its 16-bit tag verifies (a wrong key
    passes with probability about 2^-16 x the share of namespaces in use)."""

    secret: bytes = field(repr=False)
    namespaces: Mapping[int, tuple[str, bytes]] = field(repr=False)  # number -> (provider id, tag key)
    kit_secret: bytes | None = field(default=None, repr=False)  # offline kits' field secret, read as well

    @property
    def secrets(self) -> tuple[bytes, ...]:
        """The field secrets a check reads: the register's, then its kits' (when known)."""
        return (self.secret,) if self.kit_secret is None else (self.secret, self.kit_secret)

    @functools.cached_property
    def _providers(self) -> frozenset[str]:
        return frozenset(provider for provider, _ in self.namespaces.values())

    def accept(self, key: WatermarkKey, payload: int) -> bool:
        if key.legacy or key.provider_id not in self._providers:
            return False  # only a provider that marked online or with a kit has a field: no decryption to say no
        mark = key.mark_of(payload)
        entry = self.namespaces.get(mark.namespace)
        return entry is not None and entry[0] == key.provider_id and mark.tag_valid(entry[1])

    def __repr__(self) -> str:
        return f"FieldMaterial(<secret>, {len(self.namespaces)} namespaces)"


def load_field_material(data_dir: Path, session: Any) -> FieldMaterial | None:
    """The field secret and the namespaces' tag keys, or None on a folder without a master key."""
    master = existing_master_key(data_dir)
    if master is None:
        return None
    from sqlalchemy import select

    from assay.provenance.models import MarkNamespace

    # Version 3 is made by the register's own marking ("online" namespaces) and by kits ("kit" namespaces). The
    # kits' field is read only once a kit was issued: each secret is one more read on every check.
    rows = session.execute(
        select(MarkNamespace.number, MarkNamespace.provider_id, MarkNamespace.purpose).where(
            MarkNamespace.purpose.in_(("online", "kit"))
        )
    ).all()
    return FieldMaterial(
        secret=field_secret(master),
        namespaces={number: (provider_id, namespace_key(master, number)) for number, provider_id, _ in rows},
        kit_secret=kit_field_secret(master) if any(purpose == "kit" for *_, purpose in rows) else None,
    )


def namespace_key_id(key: bytes) -> str:
    """A public fingerprint of a namespace key (16 hex digits) for the log and lists; reveals nothing."""
    return hashlib.sha256(b"assay/key-id/v1" + key).hexdigest()[:16]


@dataclass(frozen=True)
class RegisterKeys:
    """The register's two symmetric secrets, loaded from the data folder.

    ``watermark``: the spreading key every Assay watermark is embedded and detected with (given to providers
    in their marking kits). ``master``: the key namespace keys are derived from (never leaves the register).
    """

    watermark: bytes
    master: bytes

    @classmethod
    def open(cls, data_dir: Path, *, create: bool = True) -> RegisterKeys:
        folder = Path(data_dir) / "provenance" / "keys"
        return cls(
            watermark=_load_or_create(folder / "watermark.key", create),
            master=_load_or_create(folder / "master.key", create),
        )

    def namespace_key(self, namespace: int) -> bytes:
        return namespace_key(self.master, namespace)

    @property
    def field_secret(self) -> bytes:
        """The secret version 3's watermark field is laid out with: the register's only (see field_secret)."""
        return field_secret(self.master)

    @property
    def kit_field_secret(self) -> bytes:
        """The field secret of the register's offline kits (see kit_field_secret)."""
        return kit_field_secret(self.master)

    def __repr__(self) -> str:  # keys never end up in logs or tracebacks
        return "RegisterKeys(<secret>)"


_existing: dict[Path, RegisterKeys] = {}  # by resolved data folder; guarded by _existing_lock
_existing_lock = threading.Lock()


def existing_register_keys(data_dir: Path | str) -> RegisterKeys | None:
    """The register's keys in ``data_dir``, or None on a folder that has none (a checking process never
    creates them). Read once per folder and kept: every check of a batch needs them."""
    path = Path(data_dir).resolve()
    with _existing_lock:
        if path in _existing:
            return _existing[path]
    try:
        keys = RegisterKeys.open(path, create=False)
    except ConfigError:
        return None  # not kept: the keys may be created later ('assay ca init')
    with _existing_lock:
        _existing[path] = keys
    return keys


def _load_or_create(path: Path, create: bool) -> bytes:
    if not path.exists():
        if not create:
            raise ConfigError(
                f"the register key {path} does not exist", hint="run 'assay ca init' to create the register's keys"
            )
        # If two processes race, exactly one creates the key and both read it.
        create_once(path, base64.b64encode(secrets.token_bytes(_KEY_BYTES)) + b"\n")
        os.chmod(path.parent, 0o700)
    text = path.read_bytes().strip()
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise ConfigError(
            f"the register key {path} is damaged (expected {_KEY_BYTES} bytes, base64)",
            hint="restore it from a backup: marks made with it resolve only with the same key",
        )
    return key


def existing_master_key(data_dir: Path | str) -> bytes | None:
    """The register's master key in ``data_dir``, or None when it has none (a checking process never creates
    it). Raises ConfigError when it is damaged."""
    path = Path(data_dir) / "provenance" / "keys" / "master.key"
    return _load_or_create(path, False) if path.exists() else None


LEGACY_KEY_ID = "register-v1"


@dataclass(frozen=True)
class WatermarkKey:
    """One watermark detection key and what a mark found with it may be attributed to.

    ``provider_id``/``system_id`` are None for the legacy register-wide key (every provider's kit held it, so
    a mark found with it names no one by itself). Marks made with a system's key carry their mark id
    encrypted (:class:`PayloadCipher`), so the embedded bits are never published."""

    key_id: str
    key: bytes = field(repr=False)
    algorithm: str
    provider_id: str | None = None
    system_id: str | None = None

    @property
    def legacy(self) -> bool:
        return self.provider_id is None

    def mark_of(self, payload: int) -> MarkId:
        """The mark id a payload found with this key stands for."""
        return MarkId(payload if self.legacy else _payload_cipher(self.key).decrypt(payload))

    def payload_of(self, mark: MarkId) -> int:
        """The bits to embed for ``mark``."""
        return mark.payload if self.legacy else _payload_cipher(self.key).encrypt(mark.payload)


class PayloadCipher:
    """A keyed permutation of 64-bit values: what a mark embeds is its id encrypted under the system's key.

    Public mark ids (on pages, in the log, in the C2PA soft binding) then say nothing about the embedded bits,
    so averaging many marked images against their published ids cannot learn the chip map (issue 9), and a
    payload decrypted with another system's key is noise whose tag and record do not exist.

    A 10-round Feistel network with HMAC-SHA256 as round function (Luby-Rackoff: 4 rounds already give a
    strong pseudorandom permutation). Written by hand because no maintained library here offers a 64-bit
    block cipher (the 'cryptography' package keeps only legacy ones such as Blowfish, in its decrepit module).
    """

    ROUNDS = 10

    def __init__(self, key: bytes) -> None:
        round_key = hmac.new(key, b"assay/payload-cipher/v1", hashlib.sha256).digest().ljust(64, b"\0")
        # HMAC-SHA256 (RFC 2104) with its two keyed states computed once, as the RFC suggests: a round then
        # hashes one block in each (a check of a version-3 field decrypts under every registered key, 10
        # rounds each; this halves the time of hmac.digest, which keys both states again on every call).
        # Never updated, only copied, so safe to share between threads.
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in round_key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in round_key))
        # Each round's inner state with its round number already hashed: a round then hashes only its half.
        self._rounds = tuple(_absorbed(inner, bytes([r])) for r in range(self.ROUNDS))

    def __repr__(self) -> str:
        return "PayloadCipher(<secret>)"

    def _f(self, r: int, half: int) -> int:
        inner = self._rounds[r].copy()
        inner.update(half.to_bytes(4, "big"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return int.from_bytes(outer.digest()[:4], "big")

    def encrypt(self, value: int) -> int:
        left, right = value >> 32, value & 0xFFFFFFFF
        for r in range(self.ROUNDS):
            left, right = right, left ^ self._f(r, right)
        return (left << 32) | right

    def decrypt(self, value: int) -> int:
        # _f inlined: a version-3 check decrypts under every registered key, and the call costs a quarter.
        left, right = value >> 32, value & 0xFFFFFFFF
        outer = self._outer
        for state in reversed(self._rounds):
            inner = state.copy()
            inner.update(left.to_bytes(4, "big"))
            out = outer.copy()
            out.update(inner.digest())
            left, right = right ^ int.from_bytes(out.digest()[:4], "big"), left
        return (left << 32) | right


def _absorbed(state: Any, data: bytes) -> Any:
    out = state.copy()
    out.update(data)
    return out


@functools.lru_cache(maxsize=4096)
def _payload_cipher(key: bytes) -> PayloadCipher:
    """One cipher per system key, kept: a version-3 check decrypts a field's message under every key."""
    return PayloadCipher(key)


def system_watermark_key(master: bytes, system_id: str, generation: int) -> bytes:
    """A system's watermark key, derived from the register's master key (never stored)."""
    msg = b"assay/system-watermark-key/v1" + system_id.encode() + b"\x00" + generation.to_bytes(4, "big")
    return hmac.new(master, msg, hashlib.sha256).digest()


def watermark_key_id(key: bytes) -> str:
    """The public id of a watermark key (16 hex digits), as detections, records and pages name it."""
    return hashlib.sha256(b"assay/watermark-key-id/v1" + key).hexdigest()[:16]


def binding_key(master: bytes, provider_id: str) -> bytes:
    """A provider's image-binding key (assay.provenance.binding), derived from the master key. The register
    holds it; the provider's offline kits carry it so they can fingerprint what they mark."""
    return hmac.new(master, b"assay/binding-key/v1" + provider_id.encode(), hashlib.sha256).digest()


def binding_algorithms() -> tuple[str, ...]:
    """The soft-binding ``alg`` values whose blocks carry an Assay mark id (the current algorithm first)."""
    from assay import watermark

    return tuple(dict.fromkeys((watermark.FIELD_ALGORITHM, watermark.ALGORITHM, LEGACY_ALGORITHM)))


LEGACY_ALGORITHM = "org.assay.watermark.1"  # == assay.watermark.LEGACY_ALGORITHM


def load_watermark_keys(data_dir: Path, session: Any = None) -> tuple[WatermarkKey, ...]:
    """The register's detection keys: every system key recorded (revoked ones too: marks made before the
    revocation still check), then the legacy register-wide key. Creates nothing (empty on a fresh folder)."""
    folder = Path(data_dir) / "provenance" / "keys"
    keys: list[WatermarkKey] = []
    master = existing_master_key(data_dir) if session is not None else None
    if master is not None:
        from sqlalchemy import select

        from assay.provenance.models import WatermarkKeyRecord

        rows = session.execute(
            select(
                WatermarkKeyRecord.key_id,
                WatermarkKeyRecord.system_id,
                WatermarkKeyRecord.provider_id,
                WatermarkKeyRecord.generation,
                WatermarkKeyRecord.algorithm,
            ).order_by(WatermarkKeyRecord.created_at, WatermarkKeyRecord.key_id)
        ).all()
        for key_id, system_id, provider_id, generation, algorithm in rows:
            key = system_watermark_key(master, system_id, generation)
            if watermark_key_id(key) == key_id:  # a key id that does not derive is never trusted
                keys.append(WatermarkKey(key_id, key, algorithm, provider_id=provider_id, system_id=system_id))
    legacy = folder / "watermark.key"
    if legacy.exists():
        keys.append(WatermarkKey(LEGACY_KEY_ID, _load_or_create(legacy, False), LEGACY_ALGORITHM))
    return tuple(keys)


def key_table_stamp() -> list[Any]:
    """Scalar subqueries whose values change whenever the watermark key table or the namespaces change (see
    material_for)."""
    from sqlalchemy import func, select

    from assay.provenance.models import MarkNamespace, WatermarkKeyRecord

    return [
        select(func.count(WatermarkKeyRecord.key_id)).scalar_subquery(),
        select(func.count(WatermarkKeyRecord.revoked_at)).scalar_subquery(),
        # the field material's namespaces (a provider's first online marks open one without a new key)
        select(func.count(MarkNamespace.number)).scalar_subquery(),
        select(func.max(MarkNamespace.number)).scalar_subquery(),
    ]
