"""The register's service rules that do not depend on the database engine (run on SQLite only, for speed):
reviews of exception claims, suspensions, ids, prohibited systems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from assay.db import Database
from assay.errors import Conflict, Forbidden, InvalidInput, NotFound
from assay.register import service
from assay.register.access import Principal, create_token
from assay.register.models import ExceptionReview, ScreeningRecord, System, SystemVersion

from .conftest import DELETE, OPERATOR, example, variant


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    # Storage behaviour is tested on both engines in test_service.py; these rules are engine-independent.
    return sqlite_db


def _count(db: Database, model: Any) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _provider_principal(db: Database, provider_id: str) -> Principal:
    with db.write() as session:
        issued = create_token(session, provider_id=provider_id, actor=OPERATOR)
    return Principal(provider_id=provider_id, is_admin=False, token_id=issued.info.id)


def test_identical_update_is_refused(db: Database, publish) -> None:
    view = publish()
    with pytest.raises(Conflict, match="identical"), db.write() as session:
        service.update(session, view.id, example(), expected_version=1, principal=OPERATOR)


def test_same_name_under_another_provider_is_fine_and_gets_its_own_id(db: Database, publish) -> None:
    publish()
    other = variant(example(), **{"provider.id": "globex", "provider.legal_name": "Globex", "system.id": DELETE})
    view = publish(other)
    assert view.id == "globex-acme-imagegen" and view.provider_id == "globex"


def test_taken_preferred_id_is_a_conflict(db: Database, publish) -> None:
    publish()
    other = variant(example(), **{"provider.id": "globex", "provider.legal_name": "Globex"})
    with pytest.raises(Conflict, match="already taken"):
        publish(other)


def test_a_providers_token_publishes_and_updates_its_own_systems(db: Database, publish, add_provider) -> None:
    add_provider("acme")
    acme = _provider_principal(db, "acme")
    view = publish(principal=acme)
    with db.write() as session:
        updated = service.update(
            session, view.id, variant(example(), **{"system.version": "3.4"}), expected_version=1, principal=acme
        )
    assert updated.version_number == 2
    with db.read() as session:
        assert service.history(session, view.id)[0].actor == f"token:{acme.token_id}"


def test_only_admins_suspend_and_reinstate_and_suspension_survives_updates(db: Database, publish) -> None:
    view = publish()
    acme = _provider_principal(db, "acme")
    with pytest.raises(Forbidden), db.write() as session:
        service.suspend(session, view.id, reason="no", principal=acme)
    with db.write() as session:
        suspended = service.suspend(session, view.id, reason="Unmarked outputs found.", principal=OPERATOR)
    assert suspended.suspended and suspended.suspension["reason"] == "Unmarked outputs found."
    with pytest.raises(Conflict), db.write() as session:
        service.suspend(session, view.id, reason="again", principal=OPERATOR)
    with db.write() as session:
        updated = service.update(
            session, view.id, variant(example(), **{"system.version": "3.3"}), expected_version=1, principal=acme
        )
    assert updated.suspended  # an update by the provider does not lift a suspension
    with pytest.raises(InvalidInput), db.write() as session:
        service.reinstate(session, view.id, reason="  ", principal=OPERATOR)
    with db.write() as session:
        back = service.reinstate(session, view.id, reason="Marks fixed.", principal=OPERATOR)
    assert not back.suspended and back.suspension["action"] == "reinstated"
    with pytest.raises(Conflict, match=r"^system '[^']+' is not suspended \("), db.write() as session:
        service.reinstate(session, view.id, reason="again", principal=OPERATOR)
    # The whole record of the oversight body's actions stays public, newest first.
    assert [(e["action"], e["reason"]) for e in back.suspensions] == [
        ("reinstated", "Marks fixed."),
        ("suspended", "Unmarked outputs found."),
    ]


def test_the_log_commits_to_a_suspension_reason_by_its_hash_and_never_holds_the_text(db: Database, publish) -> None:
    import hashlib

    from assay.transparency import decode_entry, entry_at

    view = publish()
    reason = "Unmarked outputs reported by Jane Doe."
    with db.write() as session:
        suspended = service.suspend(session, view.id, reason=reason, principal=OPERATOR)
    index = suspended.suspension["log_index"]
    entry = entry_at(db, index)
    assert entry is not None
    assert b"Jane Doe" not in entry
    body = decode_entry(entry)["body"]
    assert body["reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()


def test_claimed_exception_waits_for_review_and_only_an_upheld_review_changes_the_outcome(
    db: Database, publish
) -> None:
    view = publish(example("skyguard-controller-wellbeing"))
    assert view.outcome == "prohibited" and view.needs_review
    claimed = [f for f in view.findings if f["exception_status"] == "claimed_pending_review"]
    assert claimed and claimed[0]["needs_review"]
    rule = claimed[0]["rule_id"]
    provider = _provider_principal(db, view.provider_id)
    with pytest.raises(Forbidden), db.write() as session:
        service.review_exception(session, view.id, rule_id=rule, decision="upheld", reason="x", principal=provider)
    with db.write() as session:
        rejected = service.review_exception(
            session, view.id, rule_id=rule, decision="rejected", reason="Not necessary for safety.", principal=OPERATOR
        )
    assert rejected.outcome == "prohibited" and not rejected.needs_review
    with db.write() as session:
        upheld = service.review_exception(
            session,
            view.id,
            rule_id=rule,
            decision="upheld",
            reason="Medical purpose shown; safeguards adequate.",
            principal=OPERATOR,
        )
    assert upheld.outcome != "prohibited"
    assert [r["decision"] for r in upheld.reviews] == ["rejected", "upheld"]
    with db.read() as session:
        # Every screening stays on record: the submitted one and one per review.
        causes = list(session.scalars(select(ScreeningRecord.cause).order_by(ScreeningRecord.id)))
        digests = set(session.scalars(select(ExceptionReview.claim_digest)))
    assert causes == ["submitted", "review", "review"]
    assert digests == {claimed[0]["claim_digest"]}


def test_a_new_version_needs_a_new_review(db: Database, publish) -> None:
    view = publish(example("skyguard-controller-wellbeing"))
    rule = next(f["rule_id"] for f in view.findings if f["exception_status"] == "claimed_pending_review")
    with db.write() as session:
        service.review_exception(session, view.id, rule_id=rule, decision="upheld", reason="ok", principal=OPERATOR)
    changed = variant(example("skyguard-controller-wellbeing"), **{"system.version": "2.0"})
    with db.write() as session:
        again = service.update(session, view.id, changed, expected_version=1, principal=OPERATOR)
    assert again.outcome == "prohibited" and again.needs_review


def test_review_of_a_rule_without_a_claim_is_refused(db: Database, publish) -> None:
    view = publish()
    with pytest.raises(InvalidInput, match="claims no exception"), db.write() as session:
        service.review_exception(
            session, view.id, rule_id="eu-art50-2-synthetic-content", decision="upheld", reason="x", principal=OPERATOR
        )
    with pytest.raises(InvalidInput, match="unknown decision"), db.write() as session:
        service.review_exception(session, view.id, rule_id="x", decision="maybe", reason="x", principal=OPERATOR)


def test_prohibited_system_is_recorded_and_shown_as_prohibited(db: Database, publish) -> None:
    view = publish(example("moodpulse-call-centre"))
    assert view.outcome == "prohibited" and not view.needs_review
    assert any(f["outcome"] == "prohibited" for f in view.findings)


def test_unknown_system_and_provider(db: Database) -> None:
    with db.read() as session:
        assert service.get_system(session, "nope") is None
        assert service.get_provider(session, "nope") is None
        with pytest.raises(NotFound):
            service.history(session, "nope")
    with pytest.raises(NotFound), db.write() as session:
        service.update(session, "nope", example(), expected_version=1, principal=OPERATOR)


def test_publish_for_an_unregistered_provider_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="providers add"), db.write() as session:
        service.publish(session, example(), principal=OPERATOR)
    assert _count(db, System) == 0


def test_stored_disclosure_is_the_canonical_json_that_is_hashed(db: Database, publish) -> None:
    import hashlib

    view = publish()
    with db.read() as session:
        stored, digest = session.execute(select(SystemVersion.disclosure, SystemVersion.disclosure_sha256)).one()
    assert hashlib.sha256(stored.encode()).hexdigest() == digest == view.disclosure_sha256
    assert json.loads(stored) == view.disclosure


def test_provider_ids_are_validated_and_unique(db: Database, add_provider) -> None:
    add_provider("acme")
    with pytest.raises(Conflict):
        add_provider("acme")
    for bad in ("Acme", "acme--x", "-acme", "a" * 65, ""):
        with pytest.raises(InvalidInput):
            add_provider(bad)


def test_provider_menu_and_list_counts(db: Database, publish, add_provider) -> None:
    publish()
    add_provider("globex", "Globex")
    with db.read() as session:
        assert service.provider_choices(session) == [("acme", "Acme Imaging B.V."), ("globex", "Globex")]
        assert service.provider_choices(session, limit=1) is None  # too many for a menu: the page shows a text field
        listed = service.list_providers(session, page=1, per_page=1)
    assert listed.total == 2 and [(p.id, p.system_count) for p in listed.items] == [("acme", 1)]
