"""The root CA's key kept offline (issue 10, item 8): the server holds only the root's certificate and the
intermediate, and refuses to start, saying how to fix it, when the intermediate is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from assay.config import Config
from assay.errors import ConfigError
from assay.provenance.ca import (
    CertificateAuthority,
    ca_folder,
    create_offline_root,
    fingerprint,
    install_intermediate,
    move_root_offline,
)


def _assay(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", "--data-dir", str(data), *args], capture_output=True, text=True, timeout=120
    )


def test_ca_init_with_a_root_dir_keeps_the_root_key_out_of_the_data_folder(tmp_path: Path) -> None:
    data, root_dir = tmp_path / "data", tmp_path / "usb" / "assay-root"
    r = _assay(data, "ca", "init", "--root-dir", str(root_dir), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["root_key"] == "offline"
    assert sorted(p.name for p in root_dir.iterdir() if not p.name.startswith(".")) == ["root.key.pem", "root.pem"]
    assert not (ca_folder(data) / "root.key.pem").exists()
    root = x509.load_pem_x509_certificate((root_dir / "root.pem").read_bytes())
    assert info["root_fingerprint"] == fingerprint(root)
    # The server's CA issues and validates provider certificates with the intermediate alone.
    ca = CertificateAuthority.open(data, create=False)
    assert not ca.root_key_online and ca.anchors_pem().startswith((root_dir / "root.pem").read_bytes())
    _, chain = ca.issue(provider_id="acme", organization="Acme Imaging B.V.")
    assert ca.validate(chain.certificates).leaf == chain.leaf
    # Running it again changes nothing.
    again = _assay(data, "ca", "init", "--root-dir", str(root_dir), "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == info


def test_a_server_without_intermediate_and_root_key_refuses_to_start_with_the_fix(tmp_path: Path) -> None:
    from assay.web.app import create_app

    data, root_dir = tmp_path / "data", tmp_path / "root"
    create_offline_root(root_dir, name="Test register")
    install_intermediate(data, root_dir, name="Test register")
    create_app(Config(data_dir=data))  # the intermediate is enough
    (ca_folder(data) / "intermediate.key.pem").unlink()
    with pytest.raises(ConfigError, match="intermediate CA is missing") as raised:
        create_app(Config(data_dir=data))
    assert "install-intermediate --root-dir" in raised.value.hint
    r = _assay(data, "serve", "--port", "1")
    assert r.returncode == 2 and "install-intermediate" in r.stderr and "Traceback" not in r.stderr
    # The fix the hint gives works, and keeps the published anchor.
    install_intermediate(data, root_dir, name="Test register")
    assert CertificateAuthority.open(data, create=False).root == create_offline_root(root_dir, name="ignored")


def test_an_online_root_moves_offline_and_signs_a_new_intermediate_from_there(tmp_path: Path) -> None:
    data, root_dir = tmp_path / "data", tmp_path / "root"
    before = CertificateAuthority.open(data, name="Test register")
    assert before.root_key_online
    _, old_chain = before.issue(provider_id="acme", organization="Acme Imaging B.V.")
    move_root_offline(data, root_dir)
    after = CertificateAuthority.open(data, create=False)
    assert not after.root_key_online and fingerprint(after.root) == fingerprint(before.root)
    with pytest.raises(ConfigError, match="already offline"):
        move_root_offline(data, tmp_path / "elsewhere")
    install_intermediate(data, root_dir, name="Test register")
    renewed = CertificateAuthority.open(data, create=False)
    assert fingerprint(renewed.intermediate) != fingerprint(before.intermediate)
    _, new_chain = renewed.issue(provider_id="acme", organization="Acme Imaging B.V.")
    # Old and new providers' chains both lead to the one published root.
    assert renewed.validate(new_chain.certificates) and renewed.validate(old_chain.certificates)
    # Another root is never installed over the published one.
    other = tmp_path / "other-root"
    create_offline_root(other, name="Someone else")
    with pytest.raises(ConfigError, match="not the register's root"):
        install_intermediate(data, other, name="Test register")
