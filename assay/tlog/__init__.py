"""The transparency log's formats and algorithms, from the specifications, on the standard library and
``cryptography`` only: RFC 6962/9162 Merkle trees and proofs, and the C2SP signed-note, tlog-checkpoint,
tlog-tiles, tlog-proof and tlog-cosignature formats. Parsers are strict and verifiers fail closed with
:class:`assay.errors.VerificationError` or :class:`assay.errors.InvalidInput`.

Check offline that an entry is in a log, given its tlog-proof and the log's verifier key::

    from assay.tlog import verify_proof

    checkpoint = verify_proof(proof_text, entry_bytes, "example.com/log+1a2b3c4d+AQ...")
    print(checkpoint.origin, checkpoint.size)
"""

from assay.tlog._checkpoint import Checkpoint, verify_checkpoint
from assay.tlog._cosignature import CosignatureSigner, CosignatureVerifier, cosignature_timestamp
from assay.tlog._merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from assay.tlog._note import Note, NoteSignature, Signer, Verifier, open_note, parse_note
from assay.tlog._proof import TlogProof, verify_proof
from assay.tlog._tiles import (
    TILE_WIDTH,
    TileCache,
    TileID,
    TileReader,
    bundle_for,
    bundle_prefix,
    decode_bundle,
    encode_bundle,
    split_hashes,
    tiles_for_size,
)
from assay.tlog._vkey import parse_vkey
from assay.tlog._witness import AddCheckpointRequest

__all__ = [
    "AddCheckpointRequest",
    "EMPTY_ROOT",
    "TILE_WIDTH",
    "Checkpoint",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Note",
    "NoteSignature",
    "Signer",
    "TileCache",
    "TileID",
    "TileReader",
    "TlogProof",
    "Verifier",
    "bundle_for",
    "bundle_prefix",
    "consistency_proof",
    "cosignature_timestamp",
    "decode_bundle",
    "encode_bundle",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_note",
    "parse_note",
    "parse_vkey",
    "root_of",
    "split_hashes",
    "tiles_for_size",
    "tree_root",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_proof",
]
