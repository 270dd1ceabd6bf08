"""Shared fixtures: a fresh database per test on SQLite and, where marked, on the real PostgreSQL server.

``make test`` starts PostgreSQL (scripts/pg.sh) and sets ASSAY_TEST_POSTGRES_URL and ASSAY_TEST_REQUIRE_ALL=1,
so there nothing is skipped: a missing server or browser fails the run instead of hiding tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assay.config import Config
from assay.db import Database

PG_URL = os.environ.get("ASSAY_TEST_POSTGRES_URL", "")
REQUIRE_ALL = os.environ.get("ASSAY_TEST_REQUIRE_ALL") == "1"


def _unavailable(what: str, hint: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{what} is not available ({hint})")
    pytest.skip(f"{what} is not available ({hint})")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture
def sqlite_db(tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "data" / "assay.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    if not PG_URL:
        _unavailable("PostgreSQL", "run 'make test', or set ASSAY_TEST_POSTGRES_URL")
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"assay_tpl_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
        _unavailable("PostgreSQL", f"cannot connect to {PG_URL}: {exc}")
    db = Database(_pg_url_for(name))
    db.upgrade()
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_url_for(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_db(_pg_template: str) -> Iterator[Database]:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"assay_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"'))
    db = Database(_pg_url_for(name))
    yield db
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """A fresh, migrated database: each test using it runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    return request.getfixturevalue(name)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path / "data", public_url="http://testserver")


@pytest.fixture
def app(config: Config, sqlite_db: Database):  # type: ignore[no-untyped-def]
    from assay.web.app import create_app

    return create_app(config, sqlite_db, migrate=False)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """A real headless Debian Chromium driven by Playwright (no downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        _unavailable("Chromium", "run scripts/chromium.sh or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@contextmanager
def serve(app, **uvicorn_options) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve ``app`` with a real uvicorn on a free localhost port in a thread; yields its base URL.

    ``uvicorn_options`` go to ``uvicorn.Config``: ``ssl_certfile``/``ssl_keyfile`` serve it over https."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **uvicorn_options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"{'https' if uvicorn_options.get('ssl_certfile') else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def serve_app():  # type: ignore[no-untyped-def]
    """:func:`serve`, for test modules in other folders (a fixture needs no import path)."""
    return serve


@pytest.fixture
def live_server(app):  # type: ignore[no-untyped-def]
    """The app served by a real uvicorn on a free localhost port, for browser tests."""
    with serve(app) as url:
        yield url


# Markers given by what a test uses, so `make test-fast` (-m "not browser and not dask and not model and not
# slow") leaves out the slow kinds without anyone remembering to mark them: a real Chromium, a Dask cluster,
# a tiny language model built with torch.
_MARK_BY_FIXTURE = {"browser": "browser", "cluster": "dask", "model_dir": "model"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = _MARK_BY_FIXTURE.get(fixture)
            if marker is not None:
                item.add_marker(getattr(pytest.mark, marker))
