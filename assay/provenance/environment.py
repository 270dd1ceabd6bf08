"""What provenance needs from its surroundings: the settings, the register's keys and its CA.

Opened once per data folder and process (the CA and keys are read from disk once), e.g.::

    env = ProvenanceEnv.open(config)
    env.ca.anchors_pem()
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from assay.config import Config
from assay.provenance.ca import CertificateAuthority
from assay.provenance.keys import RegisterKeys

__all__ = ["ProvenanceEnv"]

_cache: dict[tuple[str, str], ProvenanceEnv] = {}
_lock = threading.Lock()
# 'assay ca accept-anchor' (another process) adds to this file; a running server re-reads the CA when the file
# changes, looking at most once a second: (when last looked, the file's stamp then), per cached environment.
_ANCHORS_FILE = Path("provenance") / "ca" / "accepted-anchors.pem"
_anchor_stamps: dict[tuple[str, str], tuple[float, tuple[int, int, int] | None]] = {}


@dataclass(frozen=True)
class ProvenanceEnv:
    config: Config
    keys: RegisterKeys
    ca: CertificateAuthority

    @classmethod
    def open(cls, config: Config) -> ProvenanceEnv:
        """The environment for ``config``'s data folder; creates the CA and keys there on first use."""
        key = (str(Path(config.data_dir).resolve()), config.base_url)
        with _lock:
            env = _cache.get(key)
            if env is None:
                host = urlsplit(config.base_url).hostname or "localhost"
                stamp = _stamp(Path(key[0]) / _ANCHORS_FILE)  # before reading: a change meanwhile is seen later
                env = cls(
                    config=config,
                    keys=RegisterKeys.open(config.data_dir),
                    ca=CertificateAuthority.open(config.data_dir, name=f"Assay register {host}"),
                )
                _cache[key] = env
                _anchor_stamps[key] = (time.monotonic(), stamp)
                return env
            looked, stamp = _anchor_stamps.get(key, (0.0, None))
            now = time.monotonic()
            if now - looked >= 1.0:
                current = _stamp(Path(key[0]) / _ANCHORS_FILE)
                _anchor_stamps[key] = (now, current)
                if current != stamp:
                    env.reload_ca()
            return env

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir)

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def anchors_pem(self) -> bytes:
        return self.ca.anchors_pem()

    def reload_ca(self) -> None:  # called by open() when accepted-anchors.pem changed
        """Re-read the CA (after 'assay ca accept-anchor' in another process)."""
        object.__setattr__(self, "ca", CertificateAuthority.open(self.config.data_dir, create=False))


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
