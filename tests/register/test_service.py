"""The register's service layer on SQLite and PostgreSQL: versioning, permissions, conflicts, reviews, suspensions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from assay.db import Database
from assay.errors import Conflict, Forbidden, InvalidInput
from assay.register import service
from assay.register.access import Principal, create_token
from assay.register.models import System, SystemVersion

from .conftest import DELETE, OPERATOR, example, variant


def _count(db: Database, model: Any) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _provider_principal(db: Database, provider_id: str) -> Principal:
    with db.write() as session:
        issued = create_token(session, provider_id=provider_id, actor=OPERATOR)
    return Principal(provider_id=provider_id, is_admin=False, token_id=issued.info.id)


def test_publish_records_version_1_with_screening_impact_and_log_entry(db: Database, publish) -> None:
    view = publish()
    assert view.id == "acme-imagegen" and view.url_path == "/systems/acme-imagegen"
    assert view.version_number == 1 and view.version == "3.2" and view.status == "in_use"
    assert view.provider_id == "acme" and view.provider_name == "Acme Imaging B.V."
    assert view.outcome == "transparency" and view.capabilities == ["synthetic_image"]
    assert [f["rule_id"] for f in view.findings] == ["eu-art50-2-synthetic-content"]
    assert 1 <= view.impact_level <= 4 and view.impact["level"] == view.impact_level
    assert view.training_data_headline.endswith(".")
    assert view.disclosure["system"]["name"] == "Acme ImageGen"
    assert isinstance(view.log_index, int)
    from assay.register.screening import load_rules
    from assay.transparency import decode_entry, entry_at

    entry = entry_at(db, view.log_index)
    assert entry is not None
    body = decode_entry(entry)["body"]
    # The log entry carries what is needed to recompute the screening: the disclosure's hash and the rules' version.
    assert body["disclosure_sha256"] == view.disclosure_sha256 and body["rules_version"] == load_rules().version
    with db.read() as session:
        # The read model of the contract gives the same view.
        again = service.get_system(session, "acme-imagegen")
        provider = service.get_provider(session, "acme")
    assert again == view
    assert provider is not None and provider.url_path == "/providers/acme" and provider.system_count == 1


def test_update_appends_a_version_and_keeps_every_earlier_one(db: Database, publish) -> None:
    first = publish()
    changed = variant(example(), **{"system.version": "3.3", "system.summary": "A new summary of the system."})
    with db.write() as session:
        second = service.update(
            session, first.id, changed, expected_version=1, principal=OPERATOR, reason="new model release"
        )
    assert second.version_number == 2 and second.version == "3.3" and second.id == first.id
    with db.read() as session:
        versions = service.history(session, first.id)
        v1 = service.get_version(session, first.id, 1)
    assert [v.number for v in versions] == [2, 1]
    assert versions[0].reason == "new model release" and versions[0].actor == "operator"
    assert versions[0].log_index is not None and versions[0].log_index > versions[1].log_index
    assert (
        v1 is not None and v1.version == "3.2" and v1.disclosure["system"]["summary"] != "A new summary of the system."
    )
    assert v1.disclosure_sha256 == first.disclosure_sha256 != second.disclosure_sha256


def test_stale_expected_version_is_a_conflict_and_writes_nothing(db: Database, publish) -> None:
    view = publish()
    with db.write() as session:
        service.update(
            session, view.id, variant(example(), **{"system.version": "4"}), expected_version=1, principal=OPERATOR
        )
    before = _count(db, SystemVersion)
    with pytest.raises(Conflict) as info, db.write() as session:
        service.update(
            session, view.id, variant(example(), **{"system.version": "5"}), expected_version=1, principal=OPERATOR
        )
    assert info.value.extra["current_version"] == 2
    assert _count(db, SystemVersion) == before


def test_duplicate_name_per_provider_is_a_conflict_regardless_of_case_and_spacing(db: Database, publish) -> None:
    publish()
    twin = variant(example(), **{"system.id": DELETE, "system.name": "  acme   IMAGEGEN "})
    with pytest.raises(Conflict) as info:
        publish(twin)
    assert info.value.problems[0].path == "system.name"
    assert _count(db, System) == 1 and _count(db, SystemVersion) == 1


def test_invalid_disclosure_names_each_wrong_field_and_writes_nothing(db: Database, publish) -> None:
    bad = variant(example(), capabilities=["emotion_recogniton"], **{"system.status": "live", "system.name": ""})
    with pytest.raises(InvalidInput) as info:
        publish(bad)
    paths = {p.path for p in info.value.problems}
    assert {"capabilities[0]", "system.status", "system.name"} <= paths
    assert any("emotion_recognition" in p.fix for p in info.value.problems if p.path == "capabilities[0]")
    assert _count(db, System) == 0 and _count(db, SystemVersion) == 0


def test_a_providers_token_cannot_publish_or_update_for_another_provider(db: Database, publish, add_provider) -> None:
    view = publish()
    add_provider("globex", "Globex")
    globex = _provider_principal(db, "globex")
    before = (_count(db, System), _count(db, SystemVersion))
    with pytest.raises(Forbidden), db.write() as session:
        service.update(
            session, view.id, variant(example(), **{"system.version": "9"}), expected_version=1, principal=globex
        )
    # The disclosure names acme: a globex token may not publish it, even for itself.
    with pytest.raises(Forbidden), db.write() as session:
        service.publish(session, variant(example(), **{"system.id": DELETE, "system.name": "Other"}), principal=globex)
    with pytest.raises(Forbidden), db.write() as session:
        service.publish(session, example(), principal=globex, provider_id="acme")
    assert (_count(db, System), _count(db, SystemVersion)) == before


def test_concurrent_updates_never_lose_one(db: Database, publish) -> None:
    """Eight writers update one system at once, each retrying on a stale version: all eight land."""
    import threading

    view = publish()
    writers = 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def writer(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(100):
                with db.read() as session:
                    current = session.get(System, view.id).current_version  # type: ignore[union-attr]
                try:
                    with db.write() as session:
                        service.update(
                            session,
                            view.id,
                            variant(example(), **{"system.version": f"w{i}"}),
                            expected_version=current,
                            principal=OPERATOR,
                            reason=f"writer {i}",
                        )
                    return
                except Conflict:
                    continue
            raise AssertionError(f"writer {i} never got its update in")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with db.read() as session:
        versions = service.history(session, view.id)
    assert [v.number for v in versions] == list(range(writers + 1, 0, -1))
    assert {v.reason for v in versions[:-1]} == {f"writer {i}" for i in range(writers)}
    assert len({v.log_index for v in versions}) == writers + 1


def test_racing_updates_from_the_same_version_let_exactly_one_win(db: Database, publish) -> None:
    import threading

    view = publish()
    racers = 6
    results: list[str] = []
    barrier = threading.Barrier(racers)

    def racer(i: int) -> None:
        barrier.wait(timeout=10)
        try:
            with db.write() as session:
                service.update(
                    session,
                    view.id,
                    variant(example(), **{"system.version": f"r{i}"}),
                    expected_version=1,
                    principal=OPERATOR,
                )
            results.append("won")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["conflict"] * (racers - 1) + ["won"]
    assert _count(db, SystemVersion) == 2


def test_exports_read_every_system_in_batches_on_both_engines(db: Database, publish) -> None:
    import csv
    import io

    from assay.register.export import iter_csv, iter_json, iter_records

    ids = [publish(variant(example(), **{"system.id": DELETE, "system.name": f"Tool {i:02d}"})).id for i in range(7)]
    with db.write() as session:
        service.update(
            session,
            ids[0],
            variant(example(), **{"system.id": DELETE, "system.name": "Tool 00", "system.version": "9"}),
            expected_version=1,
            principal=OPERATOR,
        )
    records = list(iter_records(db, base_url="https://r.example", batch=3))  # several batches
    assert [r["id"] for r in records] == sorted(ids)
    first = next(r for r in records if r["id"] == ids[0])
    assert first["version_number"] == 2 and first["version"] == "9" and first["disclosure"]["system"]["version"] == "9"
    assert first["url"] == f"https://r.example/systems/{ids[0]}" and first["capabilities"] == ["synthetic_image"]
    doc = json.loads(b"".join(iter_json(db, base_url="https://r.example")))
    assert doc["count"] == 7 and [s["id"] for s in doc["systems"]] == sorted(ids)
    rows = list(csv.DictReader(io.StringIO(b"".join(iter_csv(db, base_url="https://r.example")).decode())))
    assert [r["id"] for r in rows] == sorted(ids) and rows[0]["outcome"] == "transparency"


def test_an_export_is_one_snapshot_while_the_register_changes(db: Database, publish) -> None:
    # The export reads in batches; systems published or updated meanwhile must not show up half-way through
    # (PostgreSQL's default READ COMMITTED would give every batch its own snapshot).
    from assay.register.export import iter_records

    ids = [publish(variant(example(), **{"system.id": DELETE, "system.name": f"Tool {i:02d}"})).id for i in range(4)]
    records = iter_records(db, base_url="https://r.example", batch=1)
    first = next(records)
    with db.write() as session:
        service.update(
            session,
            sorted(ids)[-1],
            variant(example(), **{"system.id": DELETE, "system.name": "Tool 03", "system.version": "9"}),
            expected_version=1,
            principal=OPERATOR,
        )
    publish(variant(example(), **{"system.id": "zz-late", "system.name": "Late"}))
    rest = list(records)
    assert [r["id"] for r in [first, *rest]] == sorted(ids)
    assert all(r["version_number"] == 1 and r["version"] == "3.2" for r in [first, *rest])
