"""The web shell: the FastAPI app (``assay.web.app``), its routes, templates and static files."""
