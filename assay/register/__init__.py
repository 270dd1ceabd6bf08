"""The register of AI systems.

Domain (pure, no database or web): ``vocabulary`` (controlled vocabularies), ``disclosure`` (the disclosure
format and its parser), ``screening`` (red-line rules), ``impact`` (impact levels). Storage, access, the API
and pages build on these in ``models``, ``service`` and ``access``.
"""
