"""Searching and filtering the register, on SQLite (FTS5) and PostgreSQL (tsvector + GIN), with pagination.

Full-text matching runs on three weighted fields: the system's name (strongest), its provider's name, and
the rest of its disclosure. Filters (provider, capability, context, outcome, impact level, status,
suspended) are index lookups on the denormalised columns of ``systems``. Query text is reduced to plain
words before it reaches the database, so no search string can inject FTS syntax: ``credit sco`` becomes
``"credit"* "sco"*`` on SQLite and ``credit:* & sco:*`` on PostgreSQL (every word must match, as a prefix).

Example::

    with db.read() as session:
        page = search_systems(session, SystemQuery(q="credit", outcome="high_risk", page=2, per_page=20))
        for system in page.items: ...
        page.total, page.pages, page.has_next
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Float, Select, String, func, literal_column, select, text
from sqlalchemy.orm import Session

from assay.errors import FieldProblem, InvalidInput
from assay.register.models import System, SystemCapability, SystemContext, SystemVersion

__all__ = ["OUTCOMES", "SORTS", "Page", "SystemQuery", "search_systems"]

T = TypeVar("T")

OUTCOMES = ("prohibited", "high_risk", "transparency", "minimal")
SORTS = ("relevance", "name", "updated")
_MAX_WORDS = 12
_MAX_WORD_LEN = 64
_MAX_QUERY_LEN = 500
_BODY_LIMIT = 20_000  # characters of disclosure text indexed per system; names and purposes come first
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SystemQuery:
    """What to look for. Empty values mean "no filter"; ``page`` counts from 1."""

    q: str = ""
    provider: str | None = None
    capability: str | None = None
    context: str | None = None
    outcome: str | None = None
    impact_level: int | None = None
    status: str | None = None
    suspended: bool | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 50

    def validated(self, *, max_per_page: int = 500) -> SystemQuery:
        problems: list[FieldProblem] = []
        if len(self.q) > _MAX_QUERY_LEN:
            problems.append(FieldProblem("q", f"longer than {_MAX_QUERY_LEN} characters", "search for fewer words"))
        if self.outcome is not None and self.outcome not in OUTCOMES:
            problems.append(FieldProblem("outcome", f"unknown outcome {self.outcome!r}", "use one of " + ", ".join(OUTCOMES)))
        if self.impact_level is not None and not 1 <= self.impact_level <= 4:
            problems.append(FieldProblem("impact_level", "impact levels are 1 to 4", "give a number from 1 to 4"))
        if self.sort not in SORTS:
            problems.append(FieldProblem("sort", f"unknown sort {self.sort!r}", "use one of " + ", ".join(SORTS)))
        if self.page < 1:
            problems.append(FieldProblem("page", "pages count from 1", "give a page number of at least 1"))
        if not 1 <= self.per_page <= max_per_page:
            problems.append(FieldProblem("per_page", f"must be from 1 to {max_per_page}", f"give at most {max_per_page}"))
        if problems:
            raise InvalidInput("the search is not valid: " + "; ".join(f"{p.path}: {p.message}" for p in problems),
                               hint="fix the listed search parameters", problems=problems)
        return self

    @property
    def words(self) -> list[str]:
        return query_words(self.q)

    @property
    def filters(self) -> dict[str, Any]:
        """The filters that are set, by name (for links that keep them)."""
        names = ("q", "provider", "capability", "context", "outcome", "impact_level", "status", "suspended")
        return {n: getattr(self, n) for n in names if getattr(self, n) not in (None, "")}

    def at_page(self, page: int) -> SystemQuery:
        return replace(self, page=page)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the total so a client can show "page 3 of 12"."""

    items: list[T]
    page: int
    per_page: int
    total: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def first_item(self) -> int:
        return 0 if not self.items else (self.page - 1) * self.per_page + 1

    @property
    def last_item(self) -> int:
        return 0 if not self.items else self.first_item + len(self.items) - 1


def query_words(q: str) -> list[str]:
    """The plain words of a search string (letters and digits only, lower case, accents removed, at most 12)."""
    words = [w[:_MAX_WORD_LEN] for w in _WORD.findall(fold(q or ""))]
    return list(dict.fromkeys(w for w in words if w))[:_MAX_WORDS]


def fold(text: str) -> str:
    """Lower case without accents ("Crédit" -> "credit"), as SQLite's FTS5 ``remove_diacritics`` does.

    PostgreSQL's ``simple`` configuration keeps accents and its ``unaccent`` extension needs a superuser to
    install, so documents and queries for PostgreSQL are folded here instead.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def search_systems(session: Session, query: SystemQuery) -> Page[System]:
    """The systems matching ``query``, one page of them, with the total number of matches."""
    dialect = session.get_bind().dialect.name
    words = query.words
    stmt = select(System)
    rank = None
    if words:
        if dialect == "sqlite":
            matches = (
                text("SELECT system_id, bm25(systems_fts, 10.0, 4.0, 1.0) AS score FROM systems_fts "
                     "WHERE systems_fts MATCH :fts")
                .bindparams(fts=_fts5_query(words))
                .columns(system_id=String, score=Float)
                .subquery("m")
            )
            stmt = stmt.join(matches, matches.c.system_id == System.id)
            rank = matches.c.score.asc()  # bm25: lower is better
        else:
            tsq = func.to_tsquery("simple", _tsquery(words))
            doc = literal_column("systems.search_document")
            stmt = stmt.where(doc.op("@@")(tsq))
            rank = func.ts_rank(doc, tsq).desc()
    stmt = _filtered(stmt, query)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if query.sort == "updated":
        order = [System.updated_at.desc(), System.id]
    elif query.sort == "relevance" and rank is not None:
        order = [rank, System.name_key, System.id]
    else:
        order = [System.name_key, System.id]
    rows = list(session.scalars(stmt.order_by(*order).limit(query.per_page).offset((query.page - 1) * query.per_page)))
    return Page(items=rows, page=query.page, per_page=query.per_page, total=total)


def _filtered(stmt: Select[Any], query: SystemQuery) -> Select[Any]:
    if query.provider:
        stmt = stmt.where(System.provider_id == query.provider)
    if query.outcome:
        stmt = stmt.where(System.outcome == query.outcome)
    if query.impact_level is not None:
        stmt = stmt.where(System.impact_level == query.impact_level)
    if query.status:
        stmt = stmt.where(System.status == query.status)
    if query.suspended is not None:
        stmt = stmt.where(System.suspended.is_(query.suspended))
    if query.capability:
        stmt = stmt.where(System.id.in_(
            select(SystemCapability.system_id).where(SystemCapability.capability == query.capability)))
    if query.context:
        stmt = stmt.where(System.id.in_(
            select(SystemContext.system_id).where(SystemContext.context == query.context)))
    return stmt


def _fts5_query(words: list[str]) -> str:
    # Each word quoted (so FTS5 operators in the input are plain text) and, from two letters on, a prefix.
    return " ".join(f'"{w}"*' if len(w) >= 2 else f'"{w}"' for w in words)


def _tsquery(words: list[str]) -> str:
    # Words are letters and digits only, so they cannot carry tsquery operators.
    return " & ".join(f"{w}:*" if len(w) >= 2 else w for w in words)


def index_system(session: Session, system: System, *, provider_name: str, disclosure: Mapping[str, Any]) -> None:
    """(Re)index one system for full-text search, in the caller's write transaction."""
    body = _body_text(disclosure)
    if session.get_bind().dialect.name == "sqlite":
        # The FTS row's rowid is the id of the system's first version: an integer that never changes
        # (a text primary key's own rowid may change on VACUUM), so updates replace the row by rowid.
        rowid = session.scalar(
            select(SystemVersion.id).where(SystemVersion.system_id == system.id, SystemVersion.number == 1))
        session.execute(text("DELETE FROM systems_fts WHERE rowid = :r"), {"r": rowid})
        session.execute(
            text("INSERT INTO systems_fts(rowid, system_id, name, provider, body) VALUES (:r, :id, :n, :p, :b)"),
            {"r": rowid, "id": system.id, "n": system.name, "p": provider_name, "b": body},
        )
    else:
        session.execute(
            text("UPDATE systems SET search_document = "
                 "setweight(to_tsvector('simple', :n), 'A') || setweight(to_tsvector('simple', :p), 'B') || "
                 "setweight(to_tsvector('simple', :b), 'D') WHERE id = :id"),
            {"id": system.id, "n": fold(system.name), "p": fold(provider_name), "b": fold(body)},
        )


def _body_text(disclosure: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for value in _strings(disclosure):
        parts.append(value)
        size += len(value) + 1
        if size >= _BODY_LIMIT:
            break
    return " ".join(parts)[:_BODY_LIMIT]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if value and not value.startswith(("http://", "https://")):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
