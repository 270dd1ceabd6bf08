"""Searching and filtering the register, on SQLite (FTS5) and PostgreSQL (tsvector + GIN), with pagination.

Two paths, both built to stay fast at hundreds of thousands of systems:

- **Filters only** (provider, capability, context, outcome, impact level, status, suspended): index scans on
  the denormalised columns of ``systems``, ordered by name or by last update, with an exact total.
- **Words** (``q``): full-text matching on the system's name (strongest), its provider's name and the rest of
  its disclosure. Every word must match, as a prefix. The filters are tokens in the same full-text index (a
  ``facets`` column of the FTS5 table; lexemes beginning with "_" in the tsvector), so words and filters are
  one index intersection. A search counts and pages through at most :data:`SEARCH_WINDOW` matches (the total
  then reads "10,000+", as search engines do; narrow the search to see more). Up to :data:`RANK_LIMIT`
  matches are ranked by relevance (BM25 on SQLite; ``ts_rank`` on PostgreSQL, up to 500 there, as it reads
  each match's whole search document); beyond that, ranking every match costs more than it tells, so systems
  whose *name or provider* matches come first (ranked), then the others, most recently updated first.
- **Copies rank last.** A system whose name another provider registered first (``systems.name_copy``, kept by
  the service) ranks after every other match in a ranked search, so an impersonation never outranks the
  original however it stuffs its disclosure with the searched words. (Beyond the ranked window, matches are
  ordered by recency only.)

Query text is reduced to plain words before it reaches the database, so no search string can inject FTS
syntax: ``credit sco`` becomes ``"credit"* "sco"*`` on SQLite and ``credit:* & sco:*`` on PostgreSQL.

Example::

    with db.read() as session:
        page = search_systems(session, SystemQuery(q="credit", outcome="high_risk", page=2, per_page=20))
        for system in page.items: ...
        page.total, page.total_is_exact, page.pages, page.has_next
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, cast, exists, func, literal, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from assay.errors import FieldProblem, InvalidInput
from assay.register import screening
from assay.register.models import Provider, System, SystemCapability, SystemContext, SystemVersion

__all__ = ["OUTCOMES", "RANK_LIMIT", "SEARCH_WINDOW", "SORTS", "Page", "SystemQuery", "reindex_all", "search_systems"]

T = TypeVar("T")

OUTCOMES = screening.OUTCOMES  # one spelling of the outcomes, kept by screening
SORTS = ("relevance", "name", "updated")
SEARCH_WINDOW = 10_000
RANK_LIMIT = 2_000
# PostgreSQL's ts_rank detoasts each match's search_document (about 10 us each); BM25 in FTS5 does not.
_POSTGRES_RANK_LIMIT = 500
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
            problems.append(
                FieldProblem("outcome", f"unknown outcome {self.outcome!r}", "use one of " + ", ".join(OUTCOMES))
            )
        if self.impact_level is not None and not 1 <= self.impact_level <= 4:
            problems.append(FieldProblem("impact_level", "impact levels are 1 to 4", "give a number from 1 to 4"))
        if self.sort not in SORTS:
            problems.append(FieldProblem("sort", f"unknown sort {self.sort!r}", "use one of " + ", ".join(SORTS)))
        if self.page < 1:
            problems.append(FieldProblem("page", "pages count from 1", "give a page number of at least 1"))
        if not 1 <= self.per_page <= max_per_page:
            problems.append(
                FieldProblem("per_page", f"must be from 1 to {max_per_page}", f"give at most {max_per_page}")
            )
        elif self.words and (self.page - 1) * self.per_page >= SEARCH_WINDOW:
            problems.append(
                FieldProblem(
                    "page",
                    f"a search pages through its first {SEARCH_WINDOW:,} matches only",
                    "add words or filters to narrow the search, or download the register (/api/v1/export/systems.csv)",
                )
            )
        if problems:
            raise InvalidInput(
                "the search is not valid: " + "; ".join(f"{p.path}: {p.message}" for p in problems),
                hint=problems[0].fix if len(problems) == 1 else "fix the listed search parameters",
                problems=problems,
            )
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
    """One page of a list, with the total so a client can show "page 3 of 12".

    ``total_is_exact`` is False when a search matched more than :data:`SEARCH_WINDOW` systems; ``total`` is
    then the window and ``pages`` the pages one can reach.
    """

    items: list[T]
    page: int
    per_page: int
    total: int
    total_is_exact: bool = True
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
    if not query.words:
        return _filter_only(session, query)
    engine = _Sqlite(session, query) if session.get_bind().dialect.name == "sqlite" else _Postgres(session, query)
    ids, total = engine.page()
    exact = total <= SEARCH_WINDOW
    rows = {s.id: s for s in session.scalars(select(System).where(System.id.in_(ids)))} if ids else {}
    items = [rows[i] for i in ids if i in rows]
    return Page(
        items=items, page=query.page, per_page=query.per_page, total=min(total, SEARCH_WINDOW), total_is_exact=exact
    )


# ------------------------------------------------------------------------------------------- filters only


def _filter_only(session: Session, query: SystemQuery) -> Page[System]:
    offset = (query.page - 1) * query.per_page
    total = session.scalar(_where(select(func.count()).select_from(System), query, semi_join="in")) or 0
    stmt = _where(select(System), query, semi_join=_semi_join(session, query, total, offset))
    if query.sort == "updated":
        stmt = stmt.order_by(System.updated_at.desc(), System.id.desc())
    else:
        stmt = stmt.order_by(System.name_key, System.id)
    rows = list(session.scalars(stmt.limit(query.per_page).offset(offset)))
    return Page(items=rows, page=query.page, per_page=query.per_page, total=total)


def _semi_join(session: Session, query: SystemQuery, total: int, offset: int) -> str:
    """How to apply a capability or context filter to one page of a sorted list.

    "exists" walks the sort index and probes the facet for each system, stopping after the page: it reads about
    (offset + page) / density systems. "in" collects every system with the facet and sorts them: it reads
    ``total``, at a higher cost per row (a lookup and a sort). The cheaper one wins; the register's size comes
    from the newest search key (an index lookup), close enough for this choice.
    """
    if not (query.capability or query.context) or total == 0:
        return "exists"
    size = session.scalar(select(func.max(System.search_key))) or total
    walk = (offset + query.per_page) * size / total
    return "exists" if walk <= 4 * total + 1000 else "in"


def _where(stmt: Select[Any], query: SystemQuery, *, semi_join: str) -> Select[Any]:
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
    # Why two forms: counting is fastest from the facet index alone (IN); a page in name order is fastest
    # walking the name index and probing the facet (EXISTS), which stops after one page of hits.
    for model, column, value in (
        (SystemCapability, SystemCapability.capability, query.capability),
        (SystemContext, SystemContext.context, query.context),
    ):
        if not value:
            continue
        if semi_join == "in":
            stmt = stmt.where(System.id.in_(select(model.system_id).where(column == value)))
        else:
            stmt = stmt.where(exists().where(model.system_id == System.id, column == value))
    return stmt


# ------------------------------------------------------------------------------------------- SQLite


def facet_tokens(
    *,
    provider: str | None = None,
    capabilities: Iterable[str] = (),
    contexts: Iterable[str] = (),
    outcome: str | None = None,
    impact_level: int | None = None,
    status: str | None = None,
    suspended: bool | None = None,
) -> list[str]:
    """Filter values as FTS5 tokens (hex-encoded, so no value can split into words or collide)."""
    out = []
    for prefix, values in (
        ("fp", [provider]),
        ("fc", capabilities),
        ("fx", contexts),
        ("fo", [outcome]),
        ("fs", [status]),
    ):
        out += [prefix + v.encode().hex() for v in values if v]
    if impact_level is not None:
        out.append(f"fl{int(impact_level)}")
    if suspended is not None:
        out.append("fz1" if suspended else "fz0")
    return out


class _Sqlite:
    """FTS5: words and filters are one MATCH; ranking and paging happen inside the FTS index."""

    def __init__(self, session: Session, query: SystemQuery) -> None:
        self.session, self.query = session, query
        words = " ".join(f'"{w}"*' if len(w) >= 2 else f'"{w}"' for w in query.words)
        facets = facet_tokens(
            provider=query.provider,
            capabilities=[query.capability] if query.capability else [],
            contexts=[query.context] if query.context else [],
            outcome=query.outcome,
            impact_level=query.impact_level,
            status=query.status,
            suspended=query.suspended,
        )
        where = (" AND facets : (" + " ".join(f'"{t}"' for t in facets) + ")") if facets else ""
        self.all = f"{{name provider body}} : ({words}){where}"
        self.named = f"{{name provider}} : ({words}){where}"
        self.unnamed = f"({self.all}) NOT ({{name provider}} : ({words}))"

    def count(self, match: str, limit: int) -> int:
        return self.session.execute(
            text("SELECT count(*) FROM (SELECT rowid FROM systems_fts WHERE systems_fts MATCH :m LIMIT :n)"),
            {"m": match, "n": limit},
        ).scalar_one()

    def ids(self, match: str, *, ranked: bool, limit: int, offset: int) -> list[str]:
        # Copies of another provider's system name last (read from a partial index holding only copies).
        copies = "(rowid IN (SELECT search_key FROM systems WHERE name_copy))"
        order = f"{copies}, bm25(systems_fts, 10.0, 4.0, 1.0, 0.0), rowid DESC" if ranked else "rowid DESC"
        return list(
            self.session.execute(
                text(
                    f"SELECT system_id FROM systems_fts WHERE systems_fts MATCH :m ORDER BY {order} LIMIT :n OFFSET :o"
                ),
                {"m": match, "n": limit, "o": offset},
            ).scalars()
        )

    def page(self) -> tuple[list[str], int]:
        q = self.query
        total = self.count(self.all, SEARCH_WINDOW + 1)
        offset, limit = (q.page - 1) * q.per_page, q.per_page
        if q.sort in ("name", "updated"):
            return self._sorted(total, offset, limit), total
        if total <= RANK_LIMIT:
            return self.ids(self.all, ranked=True, limit=limit, offset=offset), total
        named = self.count(self.named, SEARCH_WINDOW + 1)
        out = self.ids(self.named, ranked=named <= RANK_LIMIT, limit=limit, offset=offset) if offset < named else []
        if len(out) < limit:
            out += self.ids(self.unnamed, ranked=False, limit=limit - len(out), offset=max(0, offset - named))
        return out, total

    def _sorted(self, total: int, offset: int, limit: int) -> list[str]:
        by_name = self.query.sort == "name"
        if total <= RANK_LIMIT:
            # Few matches: take them all from the index, sort them by the B-tree.
            ids = self.ids(self.all, ranked=False, limit=RANK_LIMIT, offset=0)
            by: list[Any] = [System.name_key, System.id] if by_name else [System.updated_at.desc(), System.id.desc()]
            stmt = select(System.id).where(System.id.in_(ids)).order_by(*by).limit(limit).offset(offset)
            return list(self.session.scalars(stmt))
        # Many matches: walk the sort index and keep the rows whose search key matched, which stops after a
        # page (SQLite would otherwise look up every match and sort them all).
        index, order = (
            ("ix_systems_name_key", "name_key, id")
            if by_name
            else ("ix_systems_updated_at", "updated_at DESC, id DESC")
        )
        return list(
            self.session.execute(
                text(
                    f"SELECT id FROM systems INDEXED BY {index} WHERE search_key IN "
                    f"(SELECT rowid FROM systems_fts WHERE systems_fts MATCH :m) ORDER BY {order} LIMIT :n OFFSET :o"
                ),
                {"m": self.all, "n": limit, "o": offset},
            ).scalars()
        )


# ------------------------------------------------------------------------------------------- PostgreSQL


class _Postgres:
    """tsvector + GIN. ``search_document`` holds the name (weight A), the provider (B), the disclosure (D) and the
    filters as lexemes that begin with "_" (which no search word can: words are letters and digits only), so
    words and filters are one GIN lookup; ``name_document`` holds the name and provider, to put name matches
    first.

    The planner must not check ``@@`` row by row: that detoasts each ``search_document`` (several KB), and it
    prices the check like a cheap comparison. So counts and sparse matches are read from GIN bitmaps only
    (``SET LOCAL`` turns off sequential and, for sparse matches, plain index scans, for this read transaction);
    when a search matches more than the window, walking the sort index finds a page within a few rows.
    """

    def __init__(self, session: Session, query: SystemQuery) -> None:
        self.session, self.query = session, query
        self.tsq = func.to_tsquery("simple", " & ".join(f"{w}:*" if len(w) >= 2 else w for w in query.words))
        facets = postgres_facets(
            provider=query.provider,
            capabilities=[query.capability] if query.capability else [],
            contexts=[query.context] if query.context else [],
            outcome=query.outcome,
            impact_level=query.impact_level,
            status=query.status,
            suspended=query.suspended,
        )
        # Facet lexemes are hexadecimal after their prefix: no quoting can break out of the tsquery literal.
        self.facet_q = cast(literal(" & ".join(f"'{f}'" for f in facets)), TSQUERY) if facets else None
        self.doc: ColumnClause[Any] = literal_column("systems.search_document")
        self.name_doc: ColumnClause[Any] = literal_column("systems.name_document")
        self.match = self.doc.op("@@")(self.tsq if self.facet_q is None else self.tsq.op("&&")(self.facet_q))

    def _base(self, stmt: Select[Any], *, named: bool | None) -> Select[Any]:
        if named is True:  # name_document's lexemes are a subset of search_document's
            stmt = stmt.where(self.name_doc.op("@@")(self.tsq))
            return stmt if self.facet_q is None else stmt.where(self.doc.op("@@")(self.facet_q))
        stmt = stmt.where(self.match)
        return stmt.where(~self.name_doc.op("@@")(self.tsq)) if named is False else stmt

    def _bitmaps_only(self, *, also_index_scans: bool) -> None:
        self.session.execute(text("SET LOCAL enable_seqscan = off"))
        self.session.execute(text(f"SET LOCAL enable_indexscan = {'off' if also_index_scans else 'on'}"))

    def count(self, *, named: bool | None, limit: int) -> int:
        inner = self._base(select(System.id), named=named).limit(limit).subquery()
        self._bitmaps_only(also_index_scans=True)
        return self.session.scalar(select(func.count()).select_from(inner)) or 0

    def ids(self, *, named: bool | None, order: list[Any], limit: int, offset: int, dense: bool) -> list[str]:
        stmt = self._base(select(System.id), named=named).order_by(*order).limit(limit).offset(offset)
        # Sparse matches: collect them from the bitmaps and sort them. Dense ones (more than the window): walk
        # the sort index, which meets a match every few rows.
        self._bitmaps_only(also_index_scans=not dense)
        return list(self.session.scalars(stmt))

    def page(self) -> tuple[list[str], int]:
        q = self.query
        total = self.count(named=None, limit=SEARCH_WINDOW + 1)
        dense = total > SEARCH_WINDOW
        offset, limit = (q.page - 1) * q.per_page, q.per_page
        recent = [System.updated_at.desc(), System.id.desc()]
        if q.sort == "name":
            return self.ids(
                named=None, order=[System.name_key, System.id], limit=limit, offset=offset, dense=dense
            ), total
        if q.sort == "updated":
            return self.ids(named=None, order=recent, limit=limit, offset=offset, dense=dense), total
        if total <= min(RANK_LIMIT, _POSTGRES_RANK_LIMIT):
            rank = func.ts_rank(self.doc, self.tsq).desc()
            order = [System.name_copy, rank, *recent]  # copies of another provider's system name last
            return self.ids(named=None, order=order, limit=limit, offset=offset, dense=False), total
        named = self.count(named=True, limit=SEARCH_WINDOW + 1)
        out: list[str] = []
        if offset < named:
            order = (
                [System.name_copy, func.ts_rank(self.name_doc, self.tsq).desc(), *recent]
                if named <= RANK_LIMIT
                else recent
            )
            out = self.ids(named=True, order=order, limit=limit, offset=offset, dense=False)
        if len(out) < limit:
            out += self.ids(
                named=False, order=recent, limit=limit - len(out), offset=max(0, offset - named), dense=dense
            )
        return out, total


def postgres_facets(**filters: Any) -> list[str]:
    """The filter lexemes of a PostgreSQL search document: the facet tokens, each behind "_"."""
    return ["_" + token for token in facet_tokens(**filters)]


# ------------------------------------------------------------------------------------------- indexing


def index_system(
    session: Session,
    system: System,
    *,
    provider_name: str,
    disclosure: Mapping[str, Any],
    capabilities: Iterable[str] = (),
    contexts: Iterable[str] = (),
) -> None:
    """(Re)index one system for full-text search and filters, in the caller's write transaction.

    Call it whenever the system's name, disclosure, provider name, outcome, impact level, status, suspension,
    capabilities or contexts change.
    """
    body = _body_text(disclosure)
    facets = " ".join(
        facet_tokens(
            provider=system.provider_id,
            capabilities=capabilities,
            contexts=contexts,
            outcome=system.outcome,
            impact_level=system.impact_level,
            status=system.status,
            suspended=bool(system.suspended),
        )
    )
    if session.get_bind().dialect.name == "sqlite":
        # The FTS row's rowid is the system's search_key (the id of its first version): an integer that never
        # changes (a text primary key's own rowid may change on VACUUM), so updates replace the row by rowid.
        if system.search_key is None:
            system.search_key = session.scalar(
                select(SystemVersion.id).where(SystemVersion.system_id == system.id, SystemVersion.number == 1)
            )
        session.execute(text("DELETE FROM systems_fts WHERE rowid = :r"), {"r": system.search_key})
        session.execute(
            text(
                "INSERT INTO systems_fts(rowid, system_id, name, provider, body, facets) "
                "VALUES (:r, :id, :n, :p, :b, :f)"
            ),
            {"r": system.search_key, "id": system.id, "n": system.name, "p": provider_name, "b": body, "f": facets},
        )
    else:
        session.execute(
            text(
                "UPDATE systems SET "
                "search_document = setweight(to_tsvector('simple', :n), 'A') || "
                "setweight(to_tsvector('simple', :p), 'B') || setweight(to_tsvector('simple', :b), 'D') || "
                "array_to_tsvector(CAST(:f AS text[])), "
                "name_document = setweight(to_tsvector('simple', :n), 'A') || "
                "setweight(to_tsvector('simple', :p), 'B') WHERE id = :id"
            ),
            {
                "id": system.id,
                "n": fold(system.name),
                "p": fold(provider_name),
                "b": fold(body),
                "f": ["_" + token for token in facets.split()],
            },
        )


def reindex_all(session: Session, *, batch: int = 500) -> int:
    """Rebuild every system's search entry from the database (after a change to what is indexed)."""
    done = 0
    last = ""
    while True:
        systems = list(session.scalars(select(System).where(System.id > last).order_by(System.id).limit(batch)))
        if not systems:
            return done
        names = dict(
            session.execute(
                select(Provider.id, Provider.name).where(Provider.id.in_({s.provider_id for s in systems}))
            ).all()
        )
        ids = [s.id for s in systems]
        docs = dict(
            session.execute(
                select(SystemVersion.system_id, SystemVersion.disclosure)
                .join(System, (System.id == SystemVersion.system_id) & (System.current_version == SystemVersion.number))
                .where(SystemVersion.system_id.in_(ids))
            ).all()
        )
        caps: dict[str, list[str]] = {i: [] for i in ids}
        for sid, cap in session.execute(
            select(SystemCapability.system_id, SystemCapability.capability).where(SystemCapability.system_id.in_(ids))
        ):
            caps[sid].append(cap)
        ctxs: dict[str, list[str]] = {i: [] for i in ids}
        for sid, ctx in session.execute(
            select(SystemContext.system_id, SystemContext.context).where(SystemContext.system_id.in_(ids))
        ):
            ctxs[sid].append(ctx)
        for s in systems:
            index_system(
                session,
                s,
                provider_name=names.get(s.provider_id, ""),
                disclosure=json.loads(docs[s.id]),
                capabilities=caps[s.id],
                contexts=ctxs[s.id],
            )
        session.flush()
        done += len(systems)
        last = systems[-1].id


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
