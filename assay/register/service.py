"""The register's service layer: every write, and the read model the rest of Assay uses.

Each write (publish, update, suspend, reinstate, review an exception, add a provider) is one call inside one
write transaction of the caller's (``with db.write() as session``); it checks the principal's permission
first, validates everything before it writes anything, appends to the transparency log as its last step
(``assay.transparency.record``), and stores the log index on the row it wrote. If anything fails, the
caller's transaction rolls back and nothing at all is written.

Versions are append-only: an update adds version n+1 with who, when and why, and rewrites only the
denormalised copies on ``systems``. Concurrent updates never lose one: an update names the version it was
based on (``expected_version``) and gets :class:`Conflict` if another update got there first; the single
SQLite writer, and on PostgreSQL a row lock on the system, make the check and the append atomic.

Read model (the contract other parts code against)::

    with db.read() as session:
        system = get_system(session, "acme-imagegen")     # SystemView | None
        provider = get_provider(session, "acme")           # ProviderView | None

Writes::

    with db.write() as session:
        view = publish(session, document, principal=principal)                  # document: dict or Disclosure
        view = update(session, view.id, document2, expected_version=1, principal=principal, reason="new model")
"""

from __future__ import annotations

from assay.register._assess import _assess as _assess  # bench/register times the assessment alone
from assay.register._assess import disclosure_sha256, name_key, slugify, validate
from assay.register.oversight import (
    RescreenReport,
    confirm_deployer,
    reinstate,
    rescreen,
    rescreen_many,
    review_exception,
    suspend,
)
from assay.register.publishing import add_provider, publish, update
from assay.register.queries import (
    current_version,
    deployer_decisions,
    deployer_statuses,
    get_provider,
    get_system,
    get_version,
    history,
    history_page,
    list_providers,
    provider_choices,
    register_counts,
    search,
    subject_names,
    system_ids,
)
from assay.register.views import (
    DEPLOYER_STATUSES,
    WEB_ADDRESS,
    ProviderView,
    SystemSummary,
    SystemView,
    VersionView,
    is_web_address,
    to_dict,
)

__all__ = [
    "DEPLOYER_STATUSES",
    "WEB_ADDRESS",
    "ProviderView",
    "RescreenReport",
    "SystemSummary",
    "SystemView",
    "VersionView",
    "add_provider",
    "confirm_deployer",
    "current_version",
    "deployer_decisions",
    "deployer_statuses",
    "disclosure_sha256",
    "get_provider",
    "get_system",
    "get_version",
    "history",
    "history_page",
    "is_web_address",
    "list_providers",
    "name_key",
    "provider_choices",
    "publish",
    "register_counts",
    "reinstate",
    "rescreen",
    "rescreen_many",
    "review_exception",
    "search",
    "slugify",
    "subject_names",
    "suspend",
    "system_ids",
    "to_dict",
    "update",
    "validate",
]
