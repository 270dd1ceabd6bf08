"""What the shared-verdict page says: a signed link (:mod:`assay.provenance.share`) re-stated in words.

Only what the register signed is said; the mark's current facts (system, provider) are read from its record,
so a link made before a suspension still leads to today's facts on the mark's page.
"""

from __future__ import annotations

from typing import Any

from assay.config import Config
from assay.db import Database

__all__ = ["shared_context", "shared_statement"]

_FOUND = {
    "marked": "an Assay mark on the picture it was recorded with: {who}",
    "marked_unrecorded": "a genuine Assay mark of {provider}, not yet recorded in the register",
    "mark_copied": (
        "an Assay mark copied from another picture: the file cannot be attributed to any registered system"
    ),
    "mark_unresolved": "a watermark that does not resolve to any registered system",
    "credentials_only": "no Assay mark; the file carries Content Credentials (check it again to see what they say)",
    "no_mark": "no Assay mark",
}


def shared_statement(status: str, *, who: str = "", provider: str = "") -> str:
    return _FOUND[status].format(who=who or "a registered system", provider=provider or "a registered provider")


def shared_context(db: Database, config: Config, params: dict[str, Any]) -> dict[str, Any]:
    """The check page's context for a shared link: ``shared`` is None when the link is not valid."""
    from assay.provenance.keys import existing_register_keys
    from assay.provenance.models import MarkRecord
    from assay.provenance.share import read_shared
    from assay.register.service import get_provider, get_system

    keys = existing_register_keys(config.data_dir)
    shared = read_shared(keys.master, params) if keys is not None else None
    if shared is None:
        return {"verdict": None, "shared": None, "shared_invalid": True}
    who = provider = ""
    if shared.mark_id:
        with db.read() as session:
            row = session.get(MarkRecord, shared.mark_id)
            if row is not None:
                system = get_system(session, row.system_id)
                owner = get_provider(session, row.provider_id)
                provider = owner.name if owner is not None else row.provider_id
                who = f"made by {system.name if system is not None else row.system_id} ({provider})"
    return {
        "verdict": None,
        "shared": {
            "status": shared.status,
            "file_sha256": shared.sha256,
            "mark_id": shared.mark_id,
            "checked_at": shared.checked_at.strftime("%Y-%m-%dT%H:%MZ"),
            "checked_at_text": shared.checked_at.strftime("%Y-%m-%d %H:%M") + " UTC",
            "statement": shared_statement(shared.status, who=who, provider=provider),
            "attributed": shared.status in ("marked", "marked_unrecorded"),
        },
    }
