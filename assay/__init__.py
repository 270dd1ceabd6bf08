"""Assay: open infrastructure that makes AI systems accountable to the people they affect.

The parts of the mission live in one package each:

- ``assay.register``: the public register of AI systems, red-line screening and impact levels;
- ``assay.watermark`` and ``assay.provenance``: marking generated images and checking them;
- ``assay.complaints``: the end-to-end encrypted complaint channel;
- ``assay.tlog`` and ``assay.transparency``: the verifiable append-only log.

Core formats (``tlog``, ``watermark``) import nothing from the web or the database; services build on them;
``assay.cli`` and ``assay.web`` are thin shells on top.
"""

__version__ = "0.1.0"
