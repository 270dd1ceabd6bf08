"""The channel's cryptography: sealed boxes with padding, the container, receipts, key files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic
from nacl.public import PrivateKey, PublicKey, SealedBox

from assay.complaints import crypto
from assay.complaints.crypto import (
    Attachment,
    ComplaintContent,
    KdfParams,
    UndecryptableError,
    derive_receipt_keys,
    generate_body_key,
    new_receipt,
    open_sealed,
    pack_complaint,
    parse_receipt,
    seal,
    unpack_complaint,
)
from assay.complaints.keyfile import KeyFileKdf, load_key_file, write_key_file
from assay.errors import InvalidInput, VerificationError

FAST_KDF = KeyFileKdf(opslimit=1, memlimit=8 * 1024 * 1024)
FAST_PARAMS = KdfParams(salt=b"0123456789abcdef", opslimit=1, memlimit=8 * 1024 * 1024)


def test_sealed_box_round_trip_and_pynacl_reads_the_padding() -> None:
    private, public = generate_body_key()
    for size in (0, 1, 2, 17, 1000, 65_537):
        message = os.urandom(size)
        ct = seal(message, public)
        assert open_sealed(ct, private) == message
        # An independent reading with PyNaCl's own SealedBox and the ISO 7816-4 rule: last 0x80, then zeros.
        padded = SealedBox(PrivateKey(private)).decrypt(ct)
        assert padded[: len(message)] == message and padded[len(message)] == 0x80
        assert set(padded[len(message) + 1 :]) <= {0}


def test_padding_hides_small_length_differences() -> None:
    _, public = generate_body_key()
    lengths = {len(seal(b"x" * n, public)) for n in range(1000, 1060)}
    assert len(lengths) <= 2


@pytest.mark.parametrize("n", [1, 2, 3, 100, 1000, 4096, 10**6, 10**7 + 3])
def test_padme_length_overhead_is_bounded(n: int) -> None:
    p = crypto.padme_length(n)
    assert p >= n and (p - n) <= max(1, n * 0.12)


def test_sealed_box_to_another_key_or_damaged_fails_closed() -> None:
    private, public = generate_body_key()
    other_private, _ = generate_body_key()
    ct = seal(b"secret", public)
    with pytest.raises(UndecryptableError):
        open_sealed(ct, other_private)
    damaged = bytearray(ct)
    damaged[50] ^= 1
    with pytest.raises(UndecryptableError):
        open_sealed(bytes(damaged), private)
    with pytest.raises(UndecryptableError):
        open_sealed(ct[:40], private)
    # A box sealed without the padding (by some other tool) is refused, not returned half-parsed.
    raw = SealedBox(PublicKey(public)).encrypt(b"no padding here")
    with pytest.raises(UndecryptableError):
        open_sealed(raw, private)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_unpack_never_crashes_on_garbage(blob: bytes) -> None:
    try:
        unpack_complaint(crypto.CONTAINER_MAGIC + blob)
    except UndecryptableError:
        pass


def test_container_round_trip_and_strict_checks() -> None:
    content = ComplaintContent(
        fields={"what": "The scoring system flagged me.", "when": "May 2026", "contact": "", "ask": "Review"},
        attachments=(Attachment("../../etc/passwd", "text/plain", b"evidence\x00bytes", "as-is"),),
        system_id="acme-scorer",
        mode="server",
    )
    blob = pack_complaint(content)
    back = unpack_complaint(blob)
    assert back.fields == {"what": "The scoring system flagged me.", "when": "May 2026", "ask": "Review"}
    assert back.attachments[0].data == b"evidence\x00bytes"
    assert back.attachments[0].name == "passwd"  # no folder escapes when the body saves it
    assert back.system_id == "acme-scorer" and back.mode == "server"
    with pytest.raises(UndecryptableError, match="after the last attachment"):
        unpack_complaint(blob + b"x")
    with pytest.raises(UndecryptableError, match="truncated"):
        unpack_complaint(blob[:-1])
    tampered = blob.replace(b"evidence", b"Evidence")
    with pytest.raises(UndecryptableError, match="SHA-256"):
        unpack_complaint(tampered)


def test_container_refuses_unknown_fields_and_empty_complaints() -> None:
    with pytest.raises(InvalidInput) as info:
        pack_complaint(ComplaintContent(fields={"what": " ", "nickname": "x"}))
    paths = {p.path for p in info.value.problems}
    assert paths == {"what", "nickname"}
    with pytest.raises(InvalidInput):
        pack_complaint(ComplaintContent(fields={"what": "x" * 20_001}))


def test_receipts_are_bip39_words_with_128_bits_and_parse_leniently() -> None:
    words, entropy = new_receipt()
    assert len(words.split()) == 12 and len(entropy) == 16
    # Independent check with the reference implementation's validator.
    assert Mnemonic("english").check(words)
    assert parse_receipt(words) == entropy
    assert parse_receipt("  " + words.upper().replace(" ", " - ") + "\n") == entropy
    assert parse_receipt(" ".join(w[:4] for w in words.split())) == entropy
    seen = {new_receipt()[1] for _ in range(200)}
    assert len(seen) == 200


def test_receipt_typos_are_caught_by_the_checksum() -> None:
    words, _ = new_receipt()
    ws = words.split()
    with pytest.raises(InvalidInput, match="12 words"):
        parse_receipt(" ".join(ws[:11]))
    with pytest.raises(InvalidInput, match="word 3"):
        parse_receipt(" ".join(ws[:2] + ["xyzzy"] + ws[3:]))
    # Swapping two different words breaks the checksum in almost all cases; find a pair that does.
    broken = 0
    for i in range(11):
        swapped = ws[:i] + [ws[i + 1], ws[i]] + ws[i + 2 :]
        if ws[i] != ws[i + 1]:
            try:
                parse_receipt(" ".join(swapped))
            except InvalidInput:
                broken += 1
    assert broken >= 8


def test_bip39_official_vector() -> None:
    # Test vector from the BIP-39 reference (trezor/python-mnemonic vectors.json, first English vector).
    assert parse_receipt(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
    ) == bytes(16)


def test_receipt_keys_are_deterministic_and_separate() -> None:
    _, entropy = new_receipt()
    a = derive_receipt_keys(entropy, FAST_PARAMS)
    b = derive_receipt_keys(entropy, FAST_PARAMS)
    assert a == b and a.access_key != a.reply_private_key
    assert bytes(PrivateKey(a.reply_private_key).public_key) == a.reply_public_key
    other_salt = derive_receipt_keys(entropy, KdfParams(salt=b"f" * 16, opslimit=1, memlimit=8 * 1024 * 1024))
    assert other_salt.access_key != a.access_key


def test_key_file_round_trip_wrong_passphrase_and_damage(tmp_path: Path) -> None:
    private, public = generate_body_key()
    path = tmp_path / "body.key.json"
    doc = write_key_file(path, private, "correct horse battery staple", kdf=FAST_KDF)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert crypto.b64(private) not in path.read_text()
    assert doc["key_id"] == crypto.key_id(public)
    assert load_key_file(path, "correct horse battery staple") == (private, public)
    with pytest.raises(VerificationError, match="passphrase"):
        load_key_file(path, "wrong horse battery staple")
    with pytest.raises(InvalidInput, match="already exists"):
        write_key_file(path, private, "correct horse battery staple", kdf=FAST_KDF)
    with pytest.raises(InvalidInput, match="shorter than 12"):
        write_key_file(tmp_path / "x.json", private, "short", kdf=FAST_KDF)
    data = json.loads(path.read_text())
    data["public_key"] = crypto.b64(generate_body_key()[1])
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(data))
    with pytest.raises(VerificationError):
        load_key_file(swapped, "correct horse battery staple")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InvalidInput, match="not a readable key file"):
        load_key_file(tmp_path / "junk.json", "x")


def test_base64_is_strict() -> None:
    assert crypto.b64decode("AAEC") == b"\x00\x01\x02"
    assert crypto.b64decode(crypto.b64(b"\xff\xfe\xfd\xfc")) == b"\xff\xfe\xfd\xfc"
    with pytest.raises(InvalidInput):
        crypto.b64decode("AA!C")


def test_an_empty_submission_is_named_for_what_it_is() -> None:
    from assay.errors import InvalidInput

    with pytest.raises(InvalidInput, match="^the complaint is incomplete") as err:
        crypto.check_content(ComplaintContent(fields={"what": " "}))
    assert err.value.problems[0].path == "what"
    with pytest.raises(InvalidInput, match="^the added information is incomplete"):
        crypto.check_content(ComplaintContent(fields={"what": ""}, kind="information"))
