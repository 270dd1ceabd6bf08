"""Where batch checking meets the check path single files use; nothing else in assay.batch knows it.

- :func:`material` (client, once per run): what workers need to examine files, and nothing that can sign:
  :class:`assay.provenance.VerifierMaterial` (detection keys, trust anchors, the registered certificates as
  public facts, revoked serials), built without opening the CA's private key;
- :func:`examine` (worker): bytes -> :class:`assay.provenance.Evidence`, pure (no database, nothing written);
  a text file (.txt, .md, .html, .docx) -> :class:`ExtractedText`, its text only;
- :func:`resolve` (client): many evidences -> verdicts as plain dicts, with
  :func:`assay.provenance.resolve_many` (one query per batch of marks); texts are screened against the text
  key ring here, on the client: text watermark keys are symmetric (whoever can detect can also mark), so they
  never go to workers, and screening a text takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.config import Config
from assay.db import Database


def material(db: Database, config: Config) -> Any:
    from assay.provenance.evidence import VerifierMaterial

    return VerifierMaterial.from_register(db, config)


@dataclass(frozen=True)
class ExtractedText:
    """What a worker makes of a text file: its text (parsed from HTML or .docx), checked for size."""

    name: str
    text: str
    mark: None = None  # never an image mark


def examine(data: bytes, material: Any, *, name: str) -> Any:
    from assay.provenance.textfiles import is_text_name

    if is_text_name(name):
        from assay.provenance.textcheck import require_checkable
        from assay.provenance.textfiles import extract_text

        text = extract_text(data, name)
        require_checkable(text, name)
        return ExtractedText(name, text)
    from assay.provenance.evidence import examine

    return examine(data, material, name=name)


def resolve(evidences: list[Any], db: Database, config: Config) -> list[dict[str, Any]]:
    from assay.provenance.resolving import resolve_many

    images = [e for e in evidences if not isinstance(e, ExtractedText)]
    image_verdicts = iter(resolve_many(images, db, config) if images else [])
    out = []
    text_material = None
    for e in evidences:
        if not isinstance(e, ExtractedText):
            out.append(next(image_verdicts).as_dict())
            continue
        from assay.provenance.textcheck import TextMaterial, examine_text, resolve_text

        text_material = text_material or TextMaterial.from_register(db, config)
        out.append(resolve_text(examine_text(e.text, text_material, name=e.name), db, config).as_dict())
    return out


def max_bytes(material: Any) -> int:
    return int(material.max_bytes)


def has_mark(evidence: Any) -> bool:
    """Whether resolving this evidence needs the database (a mark to look up; a text's key ring and records)."""
    return isinstance(evidence, ExtractedText) or evidence.mark is not None
