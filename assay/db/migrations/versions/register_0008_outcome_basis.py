"""Whether a system's screening outcome is the law's or only the register's policy (issue 11, item 9).

``systems.outcome_basis``: "law", or "register_policy" when only the register's own policy lines (the UN
human-rights red lines) reach the outcome, so that a badge never presents a policy line as law. Backfilled
from each system's latest screening: policy findings are those of the ``un_human_rights`` framework.

Screenings made under the earlier rules (which counted Art. 26(10) as a prohibition) stay on record as they
were; ``assay systems rescreen --all`` (and ``assay demo load`` for the demo) screens them under the new rules.

Revision ID: register_0008
Revises: register_0007
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "register_0008"
down_revision = "register_0007"
branch_labels = None
depends_on = None

_SEVERITY = {"minimal": 0, "transparency": 1, "high_risk": 2, "prohibited": 3}


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of "systems" would drop the table its foreign keys point at.
    op.add_column("systems", sa.Column("outcome_basis", sa.String(20), nullable=False, server_default="law"))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT s.id, s.outcome, sc.findings FROM systems s "
            "JOIN system_versions v ON v.system_id = s.id AND v.number = s.current_version "
            "JOIN system_screenings sc ON sc.id = (SELECT max(id) FROM system_screenings WHERE version_id = v.id)"
        )
    ).all()
    policy_only = []
    for system_id, outcome, findings in rows:
        findings = json.loads(findings) if isinstance(findings, str) else findings or []
        legal = max(
            (
                _SEVERITY.get(f.get("effective_outcome") or f.get("outcome"), 0)
                for f in findings
                if f.get("framework") != "un_human_rights"
            ),
            default=0,
        )
        if legal < _SEVERITY.get(outcome, 0):
            policy_only.append(system_id)
    for system_id in policy_only:
        bind.execute(sa.text("UPDATE systems SET outcome_basis = 'register_policy' WHERE id = :id"), {"id": system_id})


def downgrade() -> None:
    op.drop_column("systems", "outcome_basis")
