"""A signing certificate the register revoked no longer makes Content Credentials "trusted" (fail closed)."""

from __future__ import annotations

from assay.provenance.checking import check_media
from assay.provenance.credentials import list_certificates, revoke_certificate
from assay.provenance.marking import mark_images

from .conftest import OPERATOR, Register, encode, synthetic_pixels


def test_credentials_signed_with_a_revoked_certificate_are_not_trusted(sqlite_register: Register) -> None:
    reg = sqlite_register
    [r] = mark_images(
        reg.db,
        reg.env,
        images=[encode(synthetic_pixels(71, 640, 480), "JPEG")],
        system_id="acme-imagegen",
        principal=OPERATOR,
    )
    before = check_media(reg.db, reg.env, r.data).as_dict()
    assert before["evidence"]["manifest"]["state"] == "trusted"
    with reg.db.read() as s:
        [cert] = list_certificates(s, provider_id="acme")
    revoke_certificate(reg.db, fingerprint_or_serial=cert.fingerprint, principal=OPERATOR, reason="key compromise")

    after = check_media(reg.db, reg.env, r.data).as_dict()
    manifest = after["evidence"]["manifest"]
    assert manifest["state"] != "trusted"
    assert any("revoked" in f["code"] for f in manifest["failures"])
    assert any("revoked" in n for n in after["notes"])
