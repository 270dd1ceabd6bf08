"""Issue 11 item 10: verdicts people can share and understand (odds in words, signed share links that store no
media, no public pHash, stripped marked images refused for re-marking, HEIC/AVIF input, one vocabulary, times
with zones, CLI output within 80 columns)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import pytest
from PIL import Image

from assay.errors import Conflict
from assay.provenance import wording
from assay.provenance.checking import check_media
from assay.provenance.marking import mark_images
from assay.register.access import create_token

from .conftest import OPERATOR, Register, encode, synthetic_pixels

ROOT = Path(__file__).resolve().parents[2]


def _mark(reg: Register, seed: int, system: str = "acme-imagegen") -> object:
    [r] = mark_images(
        reg.db, reg.env, images=[encode(synthetic_pixels(seed, 512, 384), "PNG")], system_id=system, principal=OPERATOR
    )
    return r


def _stripped(data: bytes) -> bytes:
    """The marked picture re-saved without its Content Credentials (what websites do)."""
    return encode(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), "PNG")


def test_odds_in_plain_words() -> None:
    assert wording.odds(1e-139) == (
        "Less than one chance in a trillion that a picture without this mark shows this watermark."
    )
    assert "in a billion" in wording.odds(5e-10)
    assert "in a million" in wording.odds(1e-7)
    assert wording.odds(0.01) == wording.odds(float("nan")) == wording.odds(None) == ""


def test_verdict_states_odds_and_a_share_link_not_raw_scores(web, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    r = _mark(sqlite_register, 900)
    body = web.post("/api/v1/check", content=r.data, headers={"Content-Type": "image/png"}).json()
    assert body["status"] == "marked"
    assert body["confidence"].startswith("Less than one chance in a")
    assert "e-" not in body["headline"] + body["confidence"] and "p_value" not in body["evidence"]["watermark"]
    assert body["file_sha256"] == r.sha256
    # The link re-states the verdict; the page names the system and the file's hash.
    link = urlsplit(body["share_url"])
    page = web.get(link.path + "?" + link.query)
    assert page.status_code == 200
    assert "found an Assay mark on the picture it was recorded with: made by Acme ImageGen" in page.text
    assert r.sha256 in page.text and " UTC" in page.text
    # Edited into another verdict (or another file), it says nothing.
    params = {k: v[0] for k, v in parse_qs(link.query).items()}
    for change in ({"found": "no_mark"}, {"file": "0" * 64}, {"mark": "0" * 16}, {"at": "20200101T0000Z"}):
        forged = web.get(link.path + "?" + urlencode(params | change))
        assert forged.status_code == 404 and "not valid" in forged.text and "Acme ImageGen" not in forged.text


def test_a_copied_mark_shares_as_copied_and_cannot_be_relabelled(web, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT))
    from bench.watermark.adversarial.attacks import draw_tile, folded_tile

    r = _mark(sqlite_register, 909)
    marked = np.asarray(Image.open(io.BytesIO(r.data)).convert("RGB"))
    copy = encode(draw_tile(synthetic_pixels(910, 800, 600), folded_tile(marked), 36.0), "JPEG", quality=90)
    body = web.post("/api/v1/check", content=copy, headers={"Content-Type": "image/jpeg"}).json()
    assert body["status"] == "mark_copied"
    link = urlsplit(body["share_url"])
    assert "copied from another picture" in web.get(link.path + "?" + link.query).text
    params = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert web.get(link.path + "?" + urlencode(params | {"found": "marked"})).status_code == 404


def test_the_public_mark_record_has_no_perceptual_hash(web, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    r = _mark(sqlite_register, 901)
    public = web.get(f"/api/v1/marks/{r.mark.hex}").json()
    assert "phash" not in public and public["created_at"].endswith("Z")
    assert all("phash" not in m for m in web.get("/api/v1/marks").json()["items"])
    page = web.get(f"/marks/{r.mark.hex}").text
    assert r.phash not in page and "UTC" in page
    with sqlite_register.db.write() as s:
        admin = create_token(s, admin=True, actor=OPERATOR).secret
    oversight = web.get(f"/api/v1/marks/{r.mark.hex}", headers={"Authorization": f"Bearer {admin}"}).json()
    assert oversight["phash"] == r.phash


def test_a_stripped_marked_image_is_not_marked_again(sqlite_register: Register) -> None:
    reg = sqlite_register
    r = _mark(reg, 902)
    stripped = _stripped(r.data)
    with pytest.raises(Conflict) as refused:
        mark_images(reg.db, reg.env, images=[stripped], system_id="other-gen", principal=OPERATOR)
    assert "Acme ImageGen (Acme Imaging B.V.)" in refused.value.message and r.mark.hex in refused.value.message
    # The same system may re-mark its own output, but only when it says so.
    with pytest.raises(Conflict):
        mark_images(reg.db, reg.env, images=[stripped], system_id="acme-imagegen", principal=OPERATOR)
    [again] = mark_images(
        reg.db, reg.env, images=[stripped], system_id="acme-imagegen", principal=OPERATOR, remark=True
    )
    assert again.mark != r.mark
    # Another system may never, flag or not.
    with pytest.raises(Conflict):
        mark_images(reg.db, reg.env, images=[stripped], system_id="other-gen", principal=OPERATOR, remark=True)


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_heic_and_avif_are_checked(sqlite_register: Register, fmt: str) -> None:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    data = encode(synthetic_pixels(903, 512, 384), fmt, quality=90)
    v = check_media(sqlite_register.db, sqlite_register.config, data)
    assert v.status == "no_mark" and v.media_type == ("image/avif" if fmt == "AVIF" else "image/heic")
    assert (v.width, v.height) == (512, 384)


def test_heic_without_its_decoder_is_a_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from assay.errors import UnsupportedMedia
    from assay.provenance.media import decode_image

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if not installed
    heic = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64
    with pytest.raises(UnsupportedMedia) as err:
        decode_image(heic, max_bytes=10**6, max_pixels=10**7, name="photo.heic")
    assert "pillow-heif" in err.value.hint and "photo.heic" in err.value.message


def test_one_vocabulary_in_pages_and_cli() -> None:
    from assay.register import labels

    assert wording.OUTCOME_LABELS is labels.OUTCOME_LABELS  # the check's words are the register's
    mine = [
        *(ROOT / "assay/web/templates/provenance").glob("*.html"),
        ROOT / "assay/cli/provenance.py",
        ROOT / "assay/cli/check.py",
    ]
    for path in mine:
        text = path.read_text()
        assert not re.search(r"[Tt]ransparency duties|impact level \{\{|of 4\b|High risk", text), path


def _assay(reg: Register, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ASSAY_DATA_DIR=str(reg.config.data_dir), ASSAY_PUBLIC_URL="http://testserver", COLUMNS="80")
    env.pop("ASSAY_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "assay", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_output_fits_80_columns(sqlite_register: Register, tmp_path: Path) -> None:
    reg = sqlite_register
    r = _mark(reg, 904)
    path = tmp_path / "a-rather-long-file-name-for-a-picture-downloaded-from-a-social-network.png"
    path.write_bytes(r.data)
    check = _assay(reg, "check", str(path))
    assert check.returncode == 1, check.stderr
    assert "Less than one chance in a" in check.stdout and "p <" not in check.stdout
    assert "share this verdict: http://testserver/check/shared?" in check.stdout.replace("\n", "")
    assert "Impact level" in check.stdout
    listed = _assay(reg, "marks", "list")
    assert listed.returncode == 0 and r.mark.hex in listed.stdout
    for out in (check.stdout, listed.stdout):
        too_long = [line for line in out.splitlines() if len(line) > 80]
        assert not too_long, too_long


def test_the_api_refuses_a_stripped_marked_image_with_409(web, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    r = _mark(sqlite_register, 905)
    auth = {"Authorization": f"Bearer {sqlite_register.acme_token}", "Content-Type": "image/png"}
    refused = web.post("/api/v1/marks?system_id=acme-imagegen", content=_stripped(r.data), headers=auth)
    assert refused.status_code == 409, refused.text
    err = refused.json()
    assert "Acme ImageGen" in str(err) and "remark" in str(err)
    again = web.post("/api/v1/marks?system_id=acme-imagegen&remark=true", content=_stripped(r.data), headers=auth)
    assert again.status_code == 201, again.text


def test_systems_list_fits_80_columns(sqlite_register: Register) -> None:
    listed = _assay(sqlite_register, "systems", "list")
    assert listed.returncode == 0 and "acme-imagegen" in listed.stdout, listed.stderr
    assert not [line for line in listed.stdout.splitlines() if len(line) > 80]
