"""What provenance needs from its surroundings: the settings, the register's keys and its CA.

Opened once per data folder and process (the CA and keys are read from disk once), e.g.::

    env = ProvenanceEnv.open(config)
    env.ca.anchors_pem()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from assay.config import Config
from assay.provenance.ca import CertificateAuthority
from assay.provenance.keys import RegisterKeys

__all__ = ["ProvenanceEnv"]

_cache: dict[tuple[str, str], ProvenanceEnv] = {}
_lock = threading.Lock()


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
                env = cls(
                    config=config,
                    keys=RegisterKeys.open(config.data_dir),
                    ca=CertificateAuthority.open(config.data_dir, name=f"Assay register {host}"),
                )
                _cache[key] = env
            return env

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir)

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def anchors_pem(self) -> bytes:
        return self.ca.anchors_pem()

    def reload_ca(self) -> None:
        """Re-read the CA (after 'assay ca accept-anchor' in another process)."""
        object.__setattr__(self, "ca", CertificateAuthority.open(self.config.data_dir, create=False))
