"""The complaints channel on the web: the form, receipts, follow-up, public statistics, and the body's API.

Two modes, and every page says which one was used:

- **Browser** (JavaScript on): ``/static/complaints/complaints.js`` seals the complaint and its attachments to
  the oversight body's key before upload and derives the receipt's keys itself; the server receives only the
  sealed box, the receipt's access key (an Argon2id output) and the reply public key.
- **Server** (JavaScript off): the form posts to ``/complaints``; the body is read in memory only
  (:mod:`assay.web.uploads`), sealed at once and dropped. Nothing is logged, spooled or stored in
  the clear.

The oversight body's side is the JSON API under ``/api/v1/complaints`` with an admin token; the CLI
(``assay complaints``) uses it, or the local database.
"""

from __future__ import annotations

from fastapi import APIRouter

from assay.web.routes.complaints import admin, api, pages
from assay.web.routes.complaints._channel import complaints_key

__all__ = ["complaints_key", "router"]

# In this order, as the routes stood in one module: pages, the complainant's API, the oversight body's API.
router = APIRouter()
for _part in (pages, api, admin):
    router.include_router(_part.router)
