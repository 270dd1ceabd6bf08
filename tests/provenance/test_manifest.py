"""Content Credentials: what the manifest says, and c2pa-python's own Reader reporting it Trusted with the
register's published anchor (and not without it), and tampering detected."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re

import c2pa
import pytest
from PIL import Image

from assay import watermark
from assay.provenance.ca import CertificateAuthority, key_pem
from assay.provenance.keys import MarkId
from assay.provenance.manifest import ManifestFacts, build_manifest, read_manifest, sign_asset, xmp_packet
from assay.provenance.media import encode_image

from .conftest import synthetic_pixels

ALG = watermark.ALGORITHM


@pytest.fixture(scope="module")
def signed(tmp_path_factory):  # type: ignore[no-untyped-def]
    ca = CertificateAuthority.open(tmp_path_factory.mktemp("ca"), name="Test register")
    key, chain = ca.issue(provider_id="acme", organization="Acme Imaging B.V.")
    mark = MarkId.mint(namespace=3, sequence=42, key=b"k" * 32)
    facts = ManifestFacts(
        mark=mark,
        alg=ALG,
        system_id="acme-imagegen",
        system_name="Acme ImageGen",
        system_version="3.2",
        system_url="https://r.example/systems/acme-imagegen",
        provider_id="acme",
        provider_name="Acme Imaging B.V.",
        provider_url="https://r.example/providers/acme",
        mark_url=f"https://r.example/marks/{mark.hex}",
        created_at=dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC),
    )
    asset = encode_image(synthetic_pixels(1, 320, 240), "image/jpeg", xmp=xmp_packet(facts))
    data, store = sign_asset(build_manifest(facts), asset, "image/jpeg", chain_pem=chain.pem(), key_pem=key_pem(key))
    return ca, facts, data, store


def _reader(data: bytes, anchors: str | None) -> c2pa.Reader:
    settings: dict = {"verify": {"verify_trust": True}}
    if anchors is not None:
        settings["trust"] = {"trust_anchors": anchors}
    return c2pa.Reader("image/jpeg", io.BytesIO(data), context=c2pa.Context.from_dict(settings))


def test_c2pa_reader_reports_trusted_with_the_published_anchor(signed) -> None:  # type: ignore[no-untyped-def]
    ca, _, data, _ = signed
    with _reader(data, ca.anchors_pem().decode()) as reader:
        assert reader.get_validation_state() == "Trusted"
        codes = [s["code"] for s in reader.get_validation_results()["activeManifest"]["success"]]
        assert "signingCredential.trusted" in codes


def test_c2pa_reader_does_not_trust_it_without_the_anchor(signed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, _, data, _ = signed
    other = CertificateAuthority.open(tmp_path, name="Another register")
    for anchors in (None, other.anchors_pem().decode()):
        with _reader(data, anchors) as reader:
            assert reader.get_validation_state() != "Trusted"
            failures = [f["code"] for f in reader.get_validation_results()["activeManifest"].get("failure", [])]
            assert "signingCredential.untrusted" in failures


def test_the_manifest_says_what_the_issue_asks(signed) -> None:  # type: ignore[no-untyped-def]
    ca, facts, data, _ = signed
    with _reader(data, ca.anchors_pem().decode()) as reader:
        active = reader.get_active_manifest()
    labels = {a["label"]: a["data"] for a in active["assertions"]}
    actions = labels["c2pa.actions.v2"]["actions"]
    created = actions[0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert created["softwareAgent"] == {"name": "Acme ImageGen", "version": "3.2"}
    assert any(a["action"] == "c2pa.watermarked" for a in actions)
    binding = labels["c2pa.soft-binding"]
    assert binding["alg"] == ALG
    assert MarkId.from_binding(binding["blocks"][0]["value"]) == facts.mark
    assert set(labels["cawg.training-mining"]["entries"]) == {
        "cawg.ai_training",
        "cawg.ai_generative_training",
        "cawg.data_mining",
        "cawg.ai_inference",
    }
    ours = labels["org.assay.mark"]
    assert ours["system_url"] == "https://r.example/systems/acme-imagegen"
    # SB 942 latent disclosure: provider, system + version, time, unique identifier.
    assert (ours["provider"], ours["system"], ours["system_version"], ours["mark_id"]) == (
        "Acme Imaging B.V.",
        "Acme ImageGen",
        "3.2",
        facts.mark.hex,
    )
    assert ours["created"] == "2026-11-29T12:00:00Z"
    assert active["signature_info"]["issuer"] == "Acme Imaging B.V."
    assert "thumbnail" not in active  # no picture of the image in the manifest the register keeps


def test_xmp_carries_iptc_source_type_and_the_tc260_label(signed) -> None:  # type: ignore[no-untyped-def]
    _, facts, data, _ = signed
    xmp = Image.open(io.BytesIO(data)).info["xmp"].decode()
    assert "trainedAlgorithmicMedia" in xmp and "http://www.tc260.org.cn/ns/AIGC/1.0/" in xmp
    found = re.search(r"TC260:AIGC=(['\"])(.*?)\1", xmp)
    assert found is not None
    aigc = json.loads(html.unescape(found.group(2)))
    assert aigc["Label"] == "1" and aigc["ProduceID"] == facts.mark.hex


def test_our_report_states(signed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca, facts, data, _ = signed
    trusted = read_manifest(data, "image/jpeg", anchors_pem=ca.anchors_pem())
    assert trusted.state == "trusted" and trusted.signer == "Acme Imaging B.V."
    assert trusted.soft_bindings == ((ALG, facts.mark.binding_value),) and trusted.says_ai_generated
    assert read_manifest(data, "image/jpeg", anchors_pem=b"").state == "valid"
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF  # one byte of the picture, after signing
    report = read_manifest(bytes(tampered), "image/jpeg", anchors_pem=ca.anchors_pem())
    assert report.state == "tampered"
    assert any("dataHash.mismatch" in f["code"] for f in report.failures)
    stripped = encode_image(synthetic_pixels(1, 320, 240), "image/jpeg")
    assert read_manifest(stripped, "image/jpeg", anchors_pem=ca.anchors_pem()).state == "absent"


def test_a_damaged_manifest_is_reported_not_raised(signed) -> None:  # type: ignore[no-untyped-def]
    ca, _, data, _ = signed
    at = data.index(b"c2pa.signature") + 200  # inside the claim's COSE signature
    broken = data[:at] + bytes(b ^ 0x5A for b in data[at : at + 32]) + data[at + 32 :]
    report = read_manifest(broken, "image/jpeg", anchors_pem=ca.anchors_pem())
    assert report.state in ("unreadable", "invalid", "tampered")
