"""Cross-check a served Assay log with an independent C2SP implementation, aics-tlog (PyPI, Apache-2.0).

Not part of the test suite: aics-tlog needs Python >= 3.12 and is no dependency of Assay. ``assay.tlog`` needs
only the standard library and ``cryptography``, so both run side by side in a throwaway virtualenv::

    python3.12 -m venv /tmp/interop && /tmp/interop/bin/pip install aics-tlog==0.2.1
    PYTHONPATH=. /tmp/interop/bin/python bench/tlog/interop.py http://127.0.0.1:8000/log [--dir data/log]

Checks, in both directions, and stops at the first failure:

1. aics-tlog parses /log/vkey and verifies /log/checkpoint (signed note, key ID, origin);
2. aics-tlog authenticates every tile and entry bundle the log serves against the checkpoint's root;
3. aics-tlog builds the tiles from the served entries; every file of the log folder (``--dir``) is byte for
   byte the same (superseded partial tiles of earlier checkpoints, which aics-tlog does not build, are listed);
4. Assay's served tlog-proofs verify with aics-tlog, and equal the proofs aics-tlog builds from the tiles;
5. aics-tlog's consistency proofs over Assay's tiles verify with ``assay.tlog.verify_consistency``, and a
   checkpoint signed by aics-tlog verifies with ``assay.tlog.verify_checkpoint``.
"""

from __future__ import annotations

import argparse
import base64
import random
import urllib.request
from pathlib import Path

import aics_tlog as aics
from aics_tlog.checkpoint import checkpoint_from_note
from aics_tlog.tiles import parse_entry_bundle
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assay.tlog import verify_checkpoint, verify_consistency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url", help="the log's URL prefix, e.g. http://127.0.0.1:8000/log")
    ap.add_argument("--dir", type=Path, help="the log's folder (<data-dir>/log), to compare file by file")
    ap.add_argument("--samples", type=int, default=30)
    args = ap.parse_args()
    url = args.url.rstrip("/")

    def get(path: str) -> bytes:
        with urllib.request.urlopen(f"{url}/{path}", timeout=30) as r:  # noqa: S310 - a URL the user gives
            return r.read()

    # 1.
    vkey = aics.parse_vkey(get("vkey").decode().strip())
    cp, note = checkpoint_from_note(get("checkpoint").decode())
    result = aics.verify_checkpoint(note, vkey, expected_origin=cp.origin)
    assert result.ok, result.error
    print(f"1. aics-tlog verifies the checkpoint: {cp.origin}, {cp.size} entries")
    # 2.
    reader = aics.HttpTileReader(url + "/")
    report = aics.audit_tiles(reader, cp.size, cp.root)
    print(f"2. aics-tlog authenticates every tile and bundle against the root: {report}")
    # 3.
    entries: list[bytes] = []
    for i in range((cp.size + 255) // 256):
        width = min(256, cp.size - i * 256)
        entries += parse_entry_bundle(reader.read_entry_bundle(i, None if width == 256 else width))
    assert len(entries) == cp.size
    built = aics.TileWriter(entries).materialise()
    if args.dir:
        ours = {str(p.relative_to(args.dir)): p.read_bytes() for p in args.dir.rglob("*") if p.is_file()}
        ours.pop("checkpoint", None)
        missing = sorted(set(built) - set(ours))
        different = sorted(p for p in built if p in ours and ours[p] != built[p])
        assert not missing and not different, (missing[:5], different[:5])
        extra = sorted(set(ours) - set(built))
        print(f"3. aics-tlog builds the same {len(built)} files from the entries (also kept: {extra})")
    else:
        print(f"3. skipped (no --dir); aics-tlog built {len(built)} files")
    # 4.
    rnd = random.Random(4)
    picked = sorted({0, cp.size - 1, *(rnd.randrange(cp.size) for _ in range(args.samples))})
    for index in picked:
        head, _, checkpoint = get(f"entries/{index}/proof").decode().partition("\n\n")
        lines = head.split("\n")
        assert lines[:2] == ["c2sp.org/tlog-proof@v1", f"index {index}"], lines[:2]
        hashes = [base64.b64decode(line) for line in lines[2:]]
        proof_cp, proof_note = checkpoint_from_note(checkpoint)
        assert aics.verify_checkpoint(proof_note, vkey).ok
        assert aics.verify_leaf_inclusion(entries[index], index, proof_cp.size, hashes, proof_cp.root), index
        assert hashes == aics.inclusion_proof_from_tiles(reader, index, proof_cp.size), index
    print(f"4. {len(picked)} tlog-proofs served by Assay verify with aics-tlog and equal its own proofs")
    # 5.
    sizes = sorted(
        {s for s in (1, 2, 255, 256, 257, *(rnd.randrange(1, cp.size + 1) for _ in range(15))) if s <= cp.size}
    )
    for old in sizes:
        proof = aics.consistency_proof_from_tiles(reader, old, cp.size)
        verify_consistency(old, cp.size, aics.MerkleTree(entries[:old]).root(), cp.root, proof)
    key = Ed25519PrivateKey.generate()
    signed = aics.sign_checkpoint(
        aics.Checkpoint("aics.example/log", 1, aics.MerkleTree([b"a"]).root()), key, "aics.example/log"
    )
    verify_checkpoint(
        signed.serialise(), aics.format_vkey(aics.vkey_from_ed25519("aics.example/log", key.public_key()))
    )
    print(f"5. assay.tlog verifies {len(sizes)} consistency proofs and a checkpoint made by aics-tlog")


if __name__ == "__main__":
    main()
