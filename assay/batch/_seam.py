"""Where batch checking meets the check path that single files use: nothing else in assay.batch knows it.

- :func:`material` (client): what workers need to examine files, and nothing that can sign;
- :func:`examine` (worker): bytes -> evidence, pure;
- :func:`resolve` (client): many evidences -> verdicts as plain dicts, one query per batch.

INTERIM: until the shared split (``assay.provenance.examine`` / ``resolve_many``, branch ``check``) lands,
this calls ``check_media`` on the worker with the worker's own database connection; the runner, resume,
outputs and report do not change when it is pointed at the split.
"""

from __future__ import annotations

from typing import Any

from assay.config import Config
from assay.db import Database

_worker_state: dict[str, Any] = {}


def material(db: Database, config: Config) -> Any:
    return config


def examine(data: bytes, material: Any, *, name: str) -> Any:
    from assay.provenance.checking import check_media
    from assay.provenance.environment import ProvenanceEnv

    if "db" not in _worker_state:
        _worker_state["db"] = Database(material.resolved_database_url)
        _worker_state["env"] = ProvenanceEnv.open(material)
    return check_media(_worker_state["db"], _worker_state["env"], data, name=name).as_dict()


def resolve(evidences: list[Any], db: Database, config: Config) -> list[dict[str, Any]]:
    return list(evidences)


def max_bytes(material: Any) -> int:
    return int(material.max_upload_bytes)
