"""Refuse to mark an image that already carries an Assay mark, even when its Content Credentials were stripped.

``_refuse_marked`` in :mod:`assay.provenance.marking` reads the manifest only; a marked picture whose metadata a
website removed came back for a second mark, which garbles both and lets a provider relabel another provider's
output as its own. So the watermark detector runs first, with every registered key (one KeyRing pass, about
the cost of a check), and a mark it finds is named: its system and provider when recorded, else its provider.

The same system may re-mark its own output deliberately (``allow_same_system``: ``assay mark --remark``, the
API's ``remark=true``); another system's mark is always refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.db import Database
from assay.errors import Conflict

__all__ = ["refuse_remarking"]


def refuse_remarking(
    db: Database,
    env: Any,
    decoded: Sequence[tuple[Any, str]],
    names: Sequence[str],
    *,
    system_id: str,
    allow_same_system: bool = False,
) -> None:
    """Raise :class:`~assay.errors.Conflict` naming the existing mark's system when any of the ``decoded``
    (pixels, media type) images already carries an Assay watermark. Writes nothing."""
    from assay.provenance.evidence import _detect, material_for

    material = material_for(db, env.config)
    if not material.watermark_keys:
        return  # a register that never marked anything: nothing to find
    for (pixels, _), name in zip(decoded, names, strict=True):
        _, mark, _ = _detect(pixels, material.watermark_keys, material.field_material, material.field_index)
        if mark is None:
            continue
        owner_system, who = _owner(db, mark)
        if allow_same_system and owner_system == system_id:
            continue
        raise Conflict(
            f"{name} already carries the Assay mark {mark.hex} of {who}, even though its Content Credentials "
            "are gone: marking it again would garble that mark",
            hint="mark the original image, not a marked copy"
            + (
                " (or pass --remark / remark=true to re-mark your own system's output)"
                if owner_system == system_id
                else ""
            ),
        )


def _owner(db: Database, mark: Any) -> tuple[str | None, str]:
    """The recorded mark's system id and "System (Provider)", or the namespace's provider when unrecorded."""
    from assay.provenance.models import MarkNamespace, MarkRecord
    from assay.register.service import get_provider, get_system

    with db.read() as session:
        row = session.get(MarkRecord, mark.hex)
        if row is not None:
            system = get_system(session, row.system_id)
            provider = get_provider(session, row.provider_id)
            name = system.name if system is not None else row.system_id
            return row.system_id, f"{name} ({provider.name if provider is not None else row.provider_id})"
        ns = session.get(MarkNamespace, mark.namespace)
        provider = get_provider(session, ns.provider_id) if ns is not None else None
        return None, (f"a system of {provider.name}, not recorded yet" if provider is not None else "an unknown system")
