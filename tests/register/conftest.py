"""Fixtures for the register's tests: example disclosures as plain data, principals, and a seeded database."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assay.db import Database
from assay.register import service
from assay.register.access import Principal

EXAMPLES = Path(__file__).parents[2] / "assay" / "register" / "examples"
OPERATOR = Principal.local_operator()


def example(name: str = "acme-imagegen") -> dict[str, Any]:
    """An example disclosure as plain JSON data, in canonical (default-free) form, ready to modify."""
    from assay.register.disclosure import parse_disclosure

    d = parse_disclosure((EXAMPLES / f"{name}.yaml").read_bytes(), source=name)
    return d.model_dump(mode="json", exclude_defaults=True)


def variant(base: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A copy of a disclosure with dotted-path changes, e.g. variant(d, **{"system.name": "X"})."""
    d = copy.deepcopy(base if base is not None else example())
    for path, value in changes.items():
        target = d
        *parents, last = path.split(".")
        for p in parents:
            target = target[p]
        if value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return d


_DELETE = object()
DELETE = _DELETE


def as_json(d: dict[str, Any]) -> bytes:
    return json.dumps(d).encode()


@pytest.fixture
def add_provider(db: Database) -> Callable[..., Any]:
    def add(provider_id: str = "acme", name: str = "Acme Imaging B.V.") -> Any:
        with db.write() as session:
            return service.add_provider(session, id=provider_id, name=name, jurisdiction="NL", principal=OPERATOR)

    return add


@pytest.fixture
def publish(db: Database) -> Callable[..., Any]:
    """Publish a disclosure (dict) as the operator, adding its provider first if needed."""

    def run(d: dict[str, Any] | None = None, *, principal: Principal = OPERATOR, **kw: Any) -> Any:
        d = d if d is not None else example()
        from assay.register.models import Provider

        with db.write() as session:
            pid = d["provider"].get("id") or kw.get("provider_id")
            if pid and session.get(Provider, pid) is None:
                service.add_provider(session, id=pid, name=d["provider"]["legal_name"], principal=OPERATOR)
        with db.write() as session:
            return service.publish(session, d, principal=principal, **kw)

    return run
