"""The log's Ed25519 signing key: generated on first run into the data folder (never committed), mode 0600."""

from __future__ import annotations

from pathlib import Path

from assay.config import Config
from assay.errors import ConfigError, InvalidInput
from assay.files import create_once
from assay.tlog import Signer

KEY_FILE = Path("keys") / "transparency-log.key"


def key_path(config: Config) -> Path:
    return config.data_dir / KEY_FILE


def origin_is_configured(config: Config) -> bool:
    """Whether the operator chose the log's origin (``ASSAY_LOG_ORIGIN`` or ``ASSAY_PUBLIC_URL``).

    Otherwise the origin is only a guess from the host and port, which may differ from one run to the next
    (``assay demo load``, then ``assay serve --port 8080``): an existing key's origin then stands, since a log
    keeps its origin for life. A configured origin that contradicts the key is refused instead.
    """
    return bool(config.log_origin or config.public_url)


def load_or_create_signer(config: Config) -> Signer:
    """The log's signer for ``config.resolved_log_origin``; created (atomically, once) if there is none yet.

    An existing key keeps its own origin when none is configured (see :func:`origin_is_configured`)."""
    origin = config.resolved_log_origin
    path = key_path(config)
    if not path.exists():
        # If another process created the key first, everyone uses that one.
        create_once(path, (Signer.generate(origin).to_text() + "\n").encode())
    try:
        signer = Signer.from_text(path.read_text())
    except InvalidInput as exc:
        raise ConfigError(
            f"the log's signing key {path} is unreadable: {exc.message}", hint="restore the key file from your backup"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the log's signing key {path}: {exc.strerror}", hint="check the data folder's permissions"
        ) from None
    if signer.name != origin and origin_is_configured(config):
        raise ConfigError(
            f"the log's signing key is for origin {signer.name!r}, but the configured origin is {origin!r}",
            hint=f"set ASSAY_LOG_ORIGIN={signer.name} (a log keeps its origin for life), or move {path} away "
            "to start a new log with a new database",
        )
    return signer
