from __future__ import annotations

from alembic import context

from assay.db import Base, _import_all_models

_import_all_models()
target_metadata = Base.metadata
config = context.config

connection = config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    url = config.get_main_option("sqlalchemy.url")
    if not url:  # assay.db.migrate always passes a connection; plain `alembic` needs the URL
        raise RuntimeError("set sqlalchemy.url, or run the migrations through assay.db.migrate")
    engine = create_engine(url)
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
