"""Every router of the web app. Each part of Assay owns one module here (its pages and its API)."""

from assay.web.routes import complaints, log, provenance, register, site

ROUTERS = [site.router, register.router, provenance.router, complaints.router, log.router]
