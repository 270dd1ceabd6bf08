"""FastAPI dependencies shared by every router: the config, the database, the templates."""

from __future__ import annotations

from fastapi import Request
from fastapi.templating import Jinja2Templates

from assay.config import Config
from assay.db import Database


def get_config(request: Request) -> Config:
    return request.app.state.config


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates
