"""The app for the benchmark's uvicorn workers: configured from ASSAY_* variables, schema already migrated."""

from __future__ import annotations

from typing import Any


def create() -> Any:
    from assay.config import Config
    from assay.web.app import create_app

    return create_app(Config.from_env(), migrate=False)
