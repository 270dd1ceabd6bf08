"""assay.tlog depends on nothing but the standard library and ``cryptography`` (so that anyone can verify a log
with it alone, and its formats stay independent of the register's web and database layers)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
before = set(sys.modules)
import assay.tlog
loaded = sorted(set(sys.modules) - before)
print(json.dumps(loaded))
"""


def test_assay_tlog_imports_only_the_standard_library_cryptography_and_itself() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(out.stdout)
    allowed_third_party = {"cryptography", "_cffi_backend", "cffi", "_openssl", "_rust"}  # and its bindings
    foreign = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in allowed_third_party
        and name not in {"assay", "assay.errors"}
        and not name.startswith("assay.tlog")
    ]
    assert foreign == []
    assert "assay.tlog._merkle" in loaded  # the probe really imported the package
