"""Assay's settings, in one declarative table.

Every setting has a name, an ``ASSAY_*`` environment variable, a default and a help text. CLI options are
built from this table (``assay.cli._options``), so every flag is also readable from its environment variable,
and a test checks that each setting is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from assay.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type = str

    @property
    def env(self) -> str:
        return "ASSAY_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "data", "Folder for the embedded database, keys, the log's tiles and uploads in flight."),
    Setting(
        "database_url",
        "",
        "SQLAlchemy URL of the database. Empty means SQLite in the data folder "
        "(sqlite:///<data_dir>/assay.db); use postgresql+psycopg://user@host/db for PostgreSQL.",
    ),
    Setting("host", "127.0.0.1", "Address the web app listens on."),
    Setting("port", 8000, "Port the web app listens on.", int),
    Setting(
        "public_url",
        "",
        "The register's public base URL, used in links written into marks and exports. Recorded in the data "
        "folder (public-url.json) on first use, and every later process uses the recorded one; empty means the "
        "recorded URL, or http://<host>:<port> on the first run.",
    ),
    Setting("max_body_bytes", 2_000_000, "Largest JSON or form body the API accepts, in bytes.", int),
    Setting("max_upload_bytes", 50_000_000, "Largest media file accepted for checking or marking, in bytes.", int),
    Setting("max_pixels", 80_000_000, "Largest decoded image accepted for checking or marking, in pixels.", int),
    Setting(
        "upload_memory_bytes",
        200_000_000,
        "Bytes of uploaded bodies (images, complaint forms) the web app holds in memory at once; an upload waits "
        "for room before it is read (429 after 30 s). At least ASSAY_MAX_UPLOAD_BYTES.",
        int,
    ),
    Setting("page_size", 50, "Default number of items per page in lists.", int),
    Setting("max_page_size", 500, "Largest page size a client may ask for.", int),
    Setting(
        "log_origin",
        "",
        "Origin line of the transparency log's checkpoints. Empty means <public_url host>/log.",
    ),
    Setting(
        "log_period_ms",
        1000,
        "Milliseconds between the web app's log integration runs (it also runs right after each write).",
        int,
    ),
    Setting(
        "log_storage",
        "",
        "Where the log's tiles are kept: empty for the data folder (<data_dir>/log, one machine), or "
        "s3://bucket/prefix for S3-API object storage shared by several machines (needs boto3; credentials from "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or boto3's other sources).",
    ),
    Setting(
        "s3_endpoint_url",
        "",
        "The S3 server's URL for ASSAY_LOG_STORAGE when it is not AWS (MinIO, Ceph...), e.g. http://minio:9000.",
    ),
    Setting(
        "workers",
        1,
        "Web worker processes 'assay serve' starts (each on every core it can use; the database must be "
        "PostgreSQL or SQLite on a local disk).",
        int,
    ),
    Setting(
        "log_witnesses",
        "",
        "Witnesses asked to cosign the log's checkpoints (C2SP tlog-witness): 'URL vkey' items, the witness's "
        "add-checkpoint URL and its cosignature verifier key, separated by newlines or ';'. Empty means none.",
    ),
    Setting(
        "complaints_max_bytes",
        20_000_000,
        "Largest complaint (text and attachments, encrypted) or added information accepted, in bytes.",
        int,
    ),
    Setting(
        "complaints_pow_bits",
        18,
        "Proof-of-work difficulty (leading zero bits of SHA-256) a browser solves before sending a complaint "
        "while the register is quiet (it rises with the load: see ASSAY_COMPLAINTS_PER_HOUR).",
        int,
    ),
    Setting(
        "complaints_per_hour",
        300,
        "Complaints an hour, from everyone together, before a browser complaint's proof of work gets harder "
        "(one bit per doubling, at most 24; counted by all workers through the database; no IP address kept). "
        "Complaints are never refused for being many.",
        int,
    ),
    Setting(
        "complaints_lookup_pow_bits",
        12,
        "Proof-of-work difficulty of a receipt look-up while the register is quiet; it rises by one bit each time "
        "the look-ups of the last minute double past ASSAY_COMPLAINTS_LOOKUPS_PER_MINUTE (at most 22).",
        int,
    ),
    Setting(
        "complaints_lookups_per_minute",
        60,
        "Receipt look-ups a minute, from everyone together, before their proof of work gets harder.",
        int,
    ),
    Setting(
        "complaints_lookups_per_receipt",
        60,
        "Times one receipt may open its complaint in an hour (guesses never count against a real receipt).",
        int,
    ),
    Setting(
        "complaints_kdf_memlimit",
        64 * 1024 * 1024,
        "Argon2id memory (bytes) for deriving keys from receipts; fixed when the channel is first set up.",
        int,
    ),
    Setting(
        "complaints_kdf_opslimit",
        3,
        "Argon2id passes for deriving keys from receipts; fixed when the channel is first set up.",
        int,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    return _BY_NAME[name]


@dataclass(frozen=True)
class Config:
    """Resolved settings. Build with :meth:`from_env` or :meth:`with_overrides`; never mutate."""

    data_dir: Path = Path("data")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    max_body_bytes: int = 2_000_000
    max_upload_bytes: int = 50_000_000
    max_pixels: int = 80_000_000
    upload_memory_bytes: int = 200_000_000
    page_size: int = 50
    max_page_size: int = 500
    log_origin: str = ""
    log_period_ms: int = 1000
    log_storage: str = ""
    s3_endpoint_url: str = ""
    workers: int = 1
    log_witnesses: str = ""
    complaints_max_bytes: int = 20_000_000
    complaints_pow_bits: int = 18
    complaints_per_hour: int = 300
    complaints_lookup_pow_bits: int = 12
    complaints_lookups_per_minute: int = 60
    complaints_lookups_per_receipt: int = 60
    complaints_kdf_memlimit: int = 64 * 1024 * 1024
    complaints_kdf_opslimit: int = 3

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Read every setting from its ``ASSAY_*`` variable; keyword overrides win (CLI flags)."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for s in SETTINGS:
            if overrides.get(s.name) is not None:
                raw: Any = overrides[s.name]
            elif s.env in environ:
                raw = environ[s.env]
            else:
                continue
            values[s.name] = _convert(s, raw)
        return cls(**values).validated()

    def with_overrides(self, **overrides: Any) -> Config:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in overrides.items():
            if v is not None:
                values[k] = _convert(_BY_NAME[k], v) if k in _BY_NAME else v
        return Config(**values).validated()

    def validated(self) -> Config:
        if self.max_page_size < self.page_size:
            raise ConfigError(
                f"page_size ({self.page_size}) is larger than max_page_size ({self.max_page_size})",
                hint="set ASSAY_PAGE_SIZE to at most ASSAY_MAX_PAGE_SIZE",
            )
        for name in (
            "max_body_bytes",
            "max_upload_bytes",
            "max_pixels",
            "page_size",
            "port",
            "complaints_max_bytes",
            "complaints_per_hour",
            "complaints_lookups_per_minute",
            "complaints_lookups_per_receipt",
            "complaints_kdf_opslimit",
            "log_period_ms",
            "workers",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive", hint=f"set {setting(name).env} to a positive number")
        if self.upload_memory_bytes < self.max_upload_bytes:
            raise ConfigError(
                f"upload_memory_bytes ({self.upload_memory_bytes:,}) is smaller than max_upload_bytes "
                f"({self.max_upload_bytes:,}): an upload of the largest size could never be received",
                hint="set ASSAY_UPLOAD_MEMORY_BYTES to at least ASSAY_MAX_UPLOAD_BYTES",
            )
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"ASSAY_PUBLIC_URL must be an http:// or https:// address, got {self.public_url!r}",
                hint="set ASSAY_PUBLIC_URL (--public-url) to the address people reach the register at, e.g. "
                "https://register.example",
            )
        _ = self.log_witness_list
        return self

    def as_environment(self) -> dict[str, str]:
        """Every setting as its ``ASSAY_*`` variable, for processes started with this configuration (workers);
        the data folder as an absolute path, so a worker's own working folder does not matter."""
        env = {}
        for s in SETTINGS:
            value = getattr(self, s.name)
            env[s.env] = str(Path(value).resolve()) if s.name == "data_dir" else str(value)
        return env

    @property
    def log_witness_list(self) -> tuple[tuple[str, str], ...]:
        """``ASSAY_LOG_WITNESSES`` as (add-checkpoint URL, cosignature vkey) pairs, checked."""
        from assay.errors import InvalidInput
        from assay.tlog import CosignatureVerifier, parse_vkey

        hint = "write 'https://witness.example/add-checkpoint <name>+<id>+<key>' items, one a line or ';'-separated"
        out: list[tuple[str, str]] = []
        for item in self.log_witnesses.replace(";", "\n").split("\n"):
            if not item.strip():
                continue
            parts = item.split()
            if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
                raise ConfigError(f"ASSAY_LOG_WITNESSES: {item.strip()!r} is not 'URL vkey'", hint=hint)
            try:
                verifier = parse_vkey(parts[1])
            except InvalidInput as exc:
                raise ConfigError(f"ASSAY_LOG_WITNESSES: {exc.message}", hint=hint) from None
            if not isinstance(verifier, CosignatureVerifier):
                raise ConfigError(
                    f"ASSAY_LOG_WITNESSES: {parts[1]} is not a cosignature (type 0x04) key",
                    hint="use the witness's tlog-cosignature vkey (an Assay witness shows it at /witness/vkey)",
                )
            if any(vkey == parts[1] for _, vkey in out):
                raise ConfigError(f"ASSAY_LOG_WITNESSES: the witness key {parts[1]} is listed twice", hint=hint)
            out.append((parts[0], parts[1]))
        return tuple(out)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'assay.db').resolve()}"

    def with_public_url(self, url: str) -> Config:
        return self.with_overrides(public_url=url)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def resolved_log_origin(self) -> str:
        if self.log_origin:
            return self.log_origin
        host = self.base_url.split("://", 1)[-1]
        return f"{host}/log"


def _convert(s: Setting, raw: Any) -> Any:
    if s.name == "data_dir":
        return Path(raw)
    if s.kind is int:
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{s.env} must be a whole number, got {raw!r}", hint=f"set {s.env} to e.g. {s.default}"
            ) from None
    return str(raw)


# --- The register's public URL, recorded once ---------------------------------------------------------------
#
# Links to the register are signed into every mark's Content Credentials and printed by the CLI, so every
# process must agree on one address. The first process that uses the data folder records it in
# <data_dir>/public-url.json; later processes use the recorded one even when they were started without
# ASSAY_PUBLIC_URL or with another ASSAY_PORT, and refuse a different explicit URL unless told to replace it.

PUBLIC_URL_FILE = "public-url.json"
REPLACE_PUBLIC_URL_ENV = "ASSAY_REPLACE_PUBLIC_URL"


@dataclass(frozen=True)
class RecordedPublicUrl:
    """The public URL recorded in the data folder. ``derived`` when it was http://<host>:<port> of the first
    run rather than an explicit ASSAY_PUBLIC_URL (then a server on another address cannot be reached at it)."""

    url: str
    derived: bool
    path: Path


def read_public_url(data_dir: Path) -> RecordedPublicUrl | None:
    """The recorded public URL of the data folder, or None before the first run. A damaged record is an error."""
    import json

    path = Path(data_dir) / PUBLIC_URL_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the register's recorded public URL in {path}: {exc}",
            hint=f"delete {path} and run again with ASSAY_PUBLIC_URL set to the register's address",
        ) from None
    url = raw.get("public_url") if isinstance(raw, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{path} does not hold a public URL",
            hint=f"delete {path} and run again with ASSAY_PUBLIC_URL set to the register's address",
        )
    return RecordedPublicUrl(url=url.rstrip("/"), derived=bool(raw.get("derived")), path=path)


def settle_public_url(config: Config, *, replace: bool = False, serving: bool = False) -> Config:
    """The config with the register's one public URL: the recorded one, or on the first run the explicit
    ``public_url`` or http://<host>:<port>. Writes nothing (see :func:`record_public_url`).

    Raises :class:`ConfigError` when an explicit ``public_url`` differs from the recorded one, or (``serving``)
    when a server would listen on another address than a recorded http://<host>:<port> -- unless ``replace``
    (``--replace-public-url``, ``ASSAY_REPLACE_PUBLIC_URL=1``) says the register really moved.
    """
    explicit = config.public_url.rstrip("/")
    derived = f"http://{config.host}:{config.port}"
    recorded = read_public_url(config.data_dir)
    if recorded is None or replace:
        return config.with_public_url(explicit or derived)
    if explicit and explicit != recorded.url:
        raise ConfigError(
            f"ASSAY_PUBLIC_URL (--public-url) is {explicit}, but this register's public URL is {recorded.url} "
            f"(recorded in {recorded.path} on its first run); marks and links made now would point elsewhere",
            hint=f"leave ASSAY_PUBLIC_URL unset to use {recorded.url}; if the register really moved to {explicit}, "
            f"run once with --replace-public-url ({REPLACE_PUBLIC_URL_ENV}=1) -- links in earlier marks keep the "
            "old address",
        )
    if serving and not explicit and recorded.derived and recorded.url != derived:
        raise ConfigError(
            f"this server would listen on {derived}, but the register's public URL is {recorded.url} (recorded "
            f"in {recorded.path} on its first run), which marks and pages link to",
            hint=f"serve at the recorded address (--host/--port, ASSAY_HOST/ASSAY_PORT), set ASSAY_PUBLIC_URL="
            f"{recorded.url} if a proxy forwards it here, or run once with --replace-public-url "
            f"({REPLACE_PUBLIC_URL_ENV}=1) to record {derived} -- links in earlier marks keep the old address",
        )
    return config.with_public_url(recorded.url)


def record_public_url(config: Config, *, derived: bool, replace: bool = False) -> bool:
    """Record ``config.base_url`` as the data folder's public URL if none is recorded yet (or ``replace``).

    ``derived``: the URL is http://<host>:<port>, not an explicit ASSAY_PUBLIC_URL. Returns whether this call
    wrote the record. Racing first runs are safe: exactly one record wins (``files.create_once``) and
    :func:`settle_public_url` then holds every process to it.
    """
    import json
    from datetime import UTC, datetime

    from assay.files import create_once, replace_durably

    path = Path(config.data_dir) / PUBLIC_URL_FILE
    recorded = read_public_url(config.data_dir)
    if recorded is not None and (recorded.url == config.base_url or not replace):
        return False
    data = (
        json.dumps(
            {
                "public_url": config.base_url,
                "derived": derived,
                "recorded_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "note": "The register's public URL: every Assay process using this data folder links to it. "
                "Change it only with --replace-public-url.",
            },
            indent=2,
        ).encode()
        + b"\n"
    )
    if recorded is None:
        return create_once(path, data, mode=0o644)
    replace_durably(path, data, mode=0o644)  # atomic: readers see the old record or the new one, never half of one
    return True
