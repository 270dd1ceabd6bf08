"""Marking: who may mark, what is recorded (and nothing on refusal), offline kits and batch recording."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select

from assay import watermark
from assay.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from assay.provenance.keys import MarkId
from assay.provenance.marking import OfflineMarker, issue_kit, mark_images, record_batch, revoke_namespace
from assay.provenance.models import MarkRecord
from assay.register import service
from assay.register.access import revoke_token
from assay.transparency.entry import decode_entry
from assay.transparency.models import LogEntry

from .conftest import OPERATOR, Register, encode, synthetic_pixels


def _counts(reg: Register) -> tuple[int, int]:
    with reg.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(MarkRecord)) or 0,
            s.scalar(select(func.count()).select_from(LogEntry)) or 0,
        )


def _assert_no_phash_in_log(register: Register) -> int:
    """No mark entry of the log publishes the picture's perceptual hash (issue 9), under any field name:
    neither a ``phash`` field nor any recorded mark's hash anywhere in the entry. Returns the entries seen."""
    with register.db.read() as s:
        hashes = {h for (h,) in s.execute(select(MarkRecord.phash))}
        entries = [d for (d,) in s.execute(select(LogEntry.data).where(LogEntry.kind == "mark.recorded"))]
    assert hashes and entries
    for data in entries:
        assert "phash" not in decode_entry(data)["body"]
        assert not any(h.encode() in data for h in hashes), data
    return len(entries)


def test_marking_records_the_mark_and_a_log_entry(register: Register) -> None:
    image = encode(synthetic_pixels(10, 512, 384), "PNG")
    before = _counts(register)
    [r] = mark_images(
        register.db,
        register.env,
        images=[image],
        system_id="acme-imagegen",
        principal=register.principal(register.acme_token),
    )
    assert r.media_type == "image/png" and r.data[:8] == b"\x89PNG\r\n\x1a\n"
    after = _counts(register)
    assert after[0] == before[0] + 1
    with register.db.read() as s:
        row = s.get(MarkRecord, r.mark.hex)
        assert row is not None and row.system_id == "acme-imagegen" and row.provider_id == "acme"
        assert row.sha256 == r.sha256 and len(row.phash) == 16 and row.manifest_id == r.manifest_id
        assert row.manifest and b"c2pa" in row.manifest and row.log_index == r.log_index
        kinds = [k for (k,) in s.execute(select(LogEntry.kind).order_by(LogEntry.idx))]
        # The register never keeps the image: no column holds anything as large as the picture.
        assert len(row.manifest) < len(r.data) / 10
    assert kinds[r.log_index] == "mark.recorded"
    assert _assert_no_phash_in_log(register) >= 1
    assert MarkId.parse(r.mark.hex).tag_valid(register.env.keys.namespace_key(r.mark.namespace))
    # A marked output is not an original: marking it again (a second watermark garbles the first) is refused,
    # online and offline, and nothing is written.
    with pytest.raises(InvalidInput, match="already marked") as err:
        mark_images(register.db, register.env, images=[r.data], system_id="acme-imagegen", principal=OPERATOR)
    assert "carry the Assay mark" in err.value.message and "original" in err.value.hint
    assert _counts(register) == after
    kit = issue_kit(register.db, register.env, provider_id="acme", principal=OPERATOR, sequences=1)
    with pytest.raises(InvalidInput, match="already marked"):
        OfflineMarker(kit, register.env.config.data_dir / "kit.counter").mark(r.data, system_id="acme-imagegen")


@pytest.mark.parametrize(
    "system_id,error,needle",
    [
        ("acme-writer", Forbidden, "synthetic_image"),
        ("acme-scorer", Forbidden, "prohibited"),
        ("other-gen", Forbidden, "belongs to provider 'acme'"),
        ("no-such-system", NotFound, "no system"),
    ],
)
def test_who_may_not_mark(register: Register, system_id: str, error: type, needle: str) -> None:
    image = encode(synthetic_pixels(11, 512, 384), "JPEG")
    before = _counts(register)
    with pytest.raises(error) as err:
        mark_images(
            register.db,
            register.env,
            images=[image],
            system_id=system_id,
            principal=register.principal(register.acme_token),
        )
    assert needle in err.value.message and err.value.hint
    assert _counts(register) == before  # nothing written


def test_a_suspended_system_may_not_mark_and_a_revoked_token_does_not_authenticate(register: Register) -> None:
    image = encode(synthetic_pixels(12, 512, 384), "JPEG")
    with register.db.write() as s:
        service.suspend(s, "acme-imagegen", reason="investigation of deceptive outputs", principal=OPERATOR)
    with pytest.raises(Forbidden, match="suspended"):
        mark_images(register.db, register.env, images=[image], system_id="acme-imagegen", principal=OPERATOR)
    with register.db.write() as s:
        revoke_token(s, register.acme_token[:12], actor=OPERATOR)
    with pytest.raises(Unauthorized):
        register.principal(register.acme_token)


def test_one_bad_image_in_a_batch_writes_nothing(register: Register) -> None:
    good = encode(synthetic_pixels(13, 512, 384), "JPEG")
    before = _counts(register)
    with pytest.raises(InvalidInput, match="image 2"):
        mark_images(
            register.db,
            register.env,
            images=[good, b"\xff\xd8\xff\xe0broken"],
            system_id="acme-imagegen",
            principal=OPERATOR,
        )
    with pytest.raises(InvalidInput, match="too small"):
        mark_images(
            register.db,
            register.env,
            images=[encode(synthetic_pixels(13, 200, 150), "PNG")],
            system_id="acme-imagegen",
            principal=OPERATOR,
        )
    assert _counts(register) == before


def test_offline_kit_batch_recording(register: Register, tmp_path) -> None:  # type: ignore[no-untyped-def]
    acme = register.principal(register.acme_token)
    kit = issue_kit(register.db, register.env, provider_id="acme", principal=acme, sequences=10)
    assert [s["id"] for s in kit["systems"]] == ["acme-imagegen"]  # only systems that may mark
    marker = OfflineMarker(kit, tmp_path / "kit.counter")
    entries = []
    for seed in (20, 21):
        data, entry = marker.mark(encode(synthetic_pixels(seed, 512, 384), "JPEG"), system_id="acme-imagegen")
        entries.append(entry)
    with pytest.raises(Forbidden):
        marker.mark(encode(synthetic_pixels(22, 512, 384), "JPEG"), system_id="acme-scorer")
    before = _counts(register)
    # Another provider cannot record acme's marks.
    with pytest.raises(InvalidInput) as err:
        record_batch(register.db, register.env, entries=entries, principal=register.principal(register.other_token))
    assert "may not record marks" in err.value.problems[0].message
    # A forged mark (tag flipped) spoils the whole batch: nothing is recorded.
    forged = dict(entries[1], mark_id=f"{int(entries[1]['mark_id'], 16) ^ 1:016x}", manifest=None, manifest_id=None)
    with pytest.raises(InvalidInput) as err:
        record_batch(register.db, register.env, entries=[entries[0], forged], principal=acme)
    assert err.value.problems[0].path == "[1].mark_id" and "tag" in err.value.problems[0].message
    assert _counts(register) == before
    out = record_batch(register.db, register.env, entries=entries, principal=acme)
    assert [o["status"] for o in out] == ["recorded", "recorded"]
    assert _assert_no_phash_in_log(register) >= 2  # the kit's entries carry the hash; the log does not
    assert _counts(register)[0] == before[0] + 2
    # Re-sending is harmless; a different file under a recorded mark id is refused.
    assert [o["status"] for o in record_batch(register.db, register.env, entries=entries, principal=acme)] == [
        "already_recorded",
        "already_recorded",
    ]
    with pytest.raises(InvalidInput, match="problem"):
        record_batch(register.db, register.env, entries=[dict(entries[0], sha256="0" * 64)], principal=acme)


def test_a_kit_refuses_its_own_stripped_mark_unless_remarking(register: Register, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A marked copy whose Content Credentials were stripped: the register refuses to mark it again (the
    detector finds the mark); a kit does the same with its own keys, and --remark allows the same system only."""
    import io

    from PIL import Image

    from assay.errors import Conflict

    kit = issue_kit(register.db, register.env, provider_id="acme", principal=OPERATOR, sequences=3)
    marker = OfflineMarker(kit, tmp_path / "kit.counter")
    data, entry = marker.mark(encode(synthetic_pixels(30, 512, 384), "PNG"), system_id="acme-imagegen")
    stripped = encode(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), "PNG")  # pixels only
    needle = f"already carries the Assay mark {entry['mark_id']} of system acme-imagegen"
    with pytest.raises(Conflict, match=needle) as err:
        marker.mark(stripped, system_id="acme-imagegen", name="copy.png")
    assert "copy.png" in err.value.message and "--remark" in err.value.hint
    again, second = marker.mark(stripped, system_id="acme-imagegen", remark=True)
    assert second["mark_id"] != entry["mark_id"] and again != data
    # The refusal took no sequence number: the third mark of a three-mark kit still works.
    marker.mark(encode(synthetic_pixels(31, 512, 384), "PNG"), system_id="acme-imagegen")


def test_revoked_namespace_and_exhausted_kit(register: Register, tmp_path) -> None:  # type: ignore[no-untyped-def]
    kit = issue_kit(register.db, register.env, provider_id="acme", principal=OPERATOR, sequences=1)
    marker = OfflineMarker(kit, tmp_path / "c")
    _, entry = marker.mark(encode(synthetic_pixels(30, 512, 384), "JPEG"), system_id="acme-imagegen")
    with pytest.raises(Exception, match="used all its marks"):
        marker.mark(encode(synthetic_pixels(31, 512, 384), "JPEG"), system_id="acme-imagegen")
    revoke_namespace(register.db, number=kit["namespace"]["number"], principal=OPERATOR, reason="kit lost")
    with pytest.raises(InvalidInput) as err:
        record_batch(register.db, register.env, entries=[entry], principal=OPERATOR)
    assert "revoked" in err.value.problems[0].message


@pytest.mark.parametrize(
    "field,value",
    [
        ("sha256", "xyz"),
        ("phash", "12"),
        ("created_at", "yesterday"),
        ("media_type", "image/gif"),
        ("alg", "com.example.other"),
        ("mark_id", "nothex"),
        ("width", 0),
        ("manifest", "%%%"),
    ],
)
def test_malformed_batch_entries_name_the_field(sqlite_register: Register, field: str, value: object) -> None:
    entry = {
        "mark_id": "0000100000010000",
        "system_id": "acme-imagegen",
        "system_version_number": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "sha256": "a" * 64,
        "phash": "b" * 16,
        "width": 512,
        "height": 384,
        "media_type": "image/jpeg",
        "alg": watermark.ALGORITHM,
    }
    entry[field] = value
    with pytest.raises(InvalidInput) as err:
        record_batch(sqlite_register.db, sqlite_register.env, entries=[entry], principal=OPERATOR)
    assert err.value.problems[0].path == f"[0].{field}"


def test_batch_entries_must_carry_their_own_manifest_and_a_real_version(sqlite_register: Register, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reg = sqlite_register
    [online] = mark_images(
        reg.db,
        reg.env,
        images=[encode(synthetic_pixels(32, 512, 384), "JPEG")],
        system_id="acme-imagegen",
        principal=OPERATOR,
    )
    kit = issue_kit(reg.db, reg.env, provider_id="acme", principal=OPERATOR, sequences=5)
    marker = OfflineMarker(kit, tmp_path / "c")
    a, b = (marker.mark(encode(synthetic_pixels(s, 512, 384), "JPEG"), system_id="acme-imagegen")[1] for s in (33, 34))
    before = _counts(reg)
    cases = {
        # Another record's manifest id (was a database error: the column is unique).
        "[0].manifest_id": dict(a, manifest_id=online.manifest_id),
        # b's signed store under a's mark: its soft binding names another mark.
        "[0].manifest": dict(a, manifest=b["manifest"], manifest_id=b["manifest_id"]),
        "[0].system_version_number": dict(a, system_version_number=99),
    }
    for path, entry in cases.items():
        with pytest.raises(InvalidInput) as err:
            record_batch(reg.db, reg.env, entries=[entry], principal=OPERATOR)
        assert err.value.problems[0].path == path, (path, err.value.problems)
    # The same manifest twice in one batch.
    with pytest.raises(InvalidInput) as err:
        record_batch(
            reg.db,
            reg.env,
            entries=[a, dict(b, manifest=a["manifest"], manifest_id=a["manifest_id"])],
            principal=OPERATOR,
        )
    assert err.value.problems[0].path == "[1].manifest"
    assert _counts(reg) == before
    assert [o["status"] for o in record_batch(reg.db, reg.env, entries=[a, b], principal=OPERATOR)] == [
        "recorded",
        "recorded",
    ]


def test_marked_images_carry_the_output_reuse_the_disclosure_declares(register: Register, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io

    import c2pa

    from .conftest import disclosure

    reuse = {"ai_training": "allowed", "data_mining": "constrained", "conditions": "Research only, with credit."}
    with register.db.write() as s:
        current = service.get_system(s, "acme-imagegen")
        assert current is not None
        service.update(
            s,
            "acme-imagegen",
            disclosure(system__output_reuse=reuse),
            expected_version=current.version_number,
            principal=OPERATOR,
        )
    # A constrained use without its conditions is refused, naming the field.
    with pytest.raises(InvalidInput) as err:
        service.validate(disclosure(system__output_reuse={"ai_training": "constrained"}))
    assert any(p.path.endswith("output_reuse.conditions") for p in err.value.problems)

    def entries(data: bytes) -> dict[str, str]:
        with c2pa.Reader("image/png", io.BytesIO(data)) as reader:
            active = reader.get_active_manifest()
        labels = {a["label"]: a["data"] for a in active["assertions"]}
        return {k: v["use"] for k, v in labels["cawg.training-mining"]["entries"].items()}

    expected = {
        "cawg.ai_training": "allowed",
        "cawg.ai_generative_training": "notAllowed",
        "cawg.data_mining": "constrained",
        "cawg.ai_inference": "allowed",
    }
    [online] = mark_images(
        register.db,
        register.env,
        images=[encode(synthetic_pixels(40, 512, 384), "PNG")],
        system_id="acme-imagegen",
        principal=OPERATOR,
    )
    assert entries(online.data) == expected
    kit = issue_kit(register.db, register.env, provider_id="acme", principal=OPERATOR, sequences=1)
    offline, _ = OfflineMarker(kit, tmp_path / "kit.counter").mark(
        encode(synthetic_pixels(41, 512, 384), "PNG"), system_id="acme-imagegen"
    )
    assert entries(offline) == expected
