"""The provider's remote mode (issue 11 item 3): `systems publish`/`update`, `mark` and `check` with --server and
--token against a real register served by uvicorn, with the local commands' output, the API's errors as one-line
CLI errors with their hint, TLS always verified, and the token never shown."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.config import Config
from assay.db import Database
from assay.register import service
from assay.register.access import Principal, create_token

from .conftest import EXAMPLE, encode, synthetic_pixels

OPERATOR = Principal.local_operator()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """``assay --data-dir <provider's folder> ...`` in-process, through the CLI's real entry point."""
    from assay.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    for var in ("ASSAY_SERVER", "ASSAY_TOKEN", "ASSAY_CA_BUNDLE", "ASSAY_UNSAFE_HTTP", "ASSAY_REMOTE"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, data: Path | None = None) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["assay", "--data-dir", str(data or tmp_path / "provider-data"), *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@dataclass
class Served:
    url: str
    token: str
    admin: str
    db: Database
    vkey: str


def _register(tmp_path: Path, sqlite_db: Database) -> tuple[object, str, str]:
    from assay.web.app import create_app

    config = Config(data_dir=tmp_path / "register-data", public_url="http://testserver")
    with sqlite_db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
        token = create_token(session, provider_id="acme", actor=OPERATOR).secret
        admin = create_token(session, admin=True, actor=OPERATOR).secret
    return create_app(config, sqlite_db, migrate=False), token, admin


@pytest.fixture
def served(tmp_path, sqlite_db, serve_app) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    from assay.transparency import verifier_key

    app, token, admin = _register(tmp_path, sqlite_db)
    with serve_app(app) as url:
        yield Served(url, token, admin, sqlite_db, verifier_key(sqlite_db))


def _one_line_error(r: Result) -> tuple[str, str]:
    """The CLI's error form: exit 2, 'error: ...' and 'hint: ...', one line each, no traceback."""
    assert r.code == 2, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: ") and "Traceback" not in r.err, r.err
    return lines[0], lines[1]


def test_publish_update_mark_and_check_from_another_machine(served: Served, cli, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at debug: the token must not be in there either
    remote = ["--server", served.url, "--token", served.token]
    provider_data = tmp_path / "provider-data"

    published = cli("systems", "publish", str(EXAMPLE), *remote, "--json")
    assert published.code == 0, published.err
    view = json.loads(published.out)
    assert view["id"] == "acme-imagegen" and view["provider_id"] == "acme" and view["version_number"] == 1

    # The same --json and text as the local command, which another register prints for the same file.
    local_data = tmp_path / "local-data"
    assert (
        cli("providers", "add", "acme", "--name", "Acme Imaging B.V.", "--jurisdiction", "NL", data=local_data).code
        == 0
    )
    local = cli("systems", "publish", str(EXAMPLE), "--json", data=local_data)
    assert local.code == 0, local.err
    varying = {"created_at", "updated_at", "log_index"}
    local_view = json.loads(local.out)
    assert list(view) == list(local_view)
    assert {k: v for k, v in view.items() if k not in varying} == {
        k: v for k, v in local_view.items() if k not in varying
    }
    assert view["created_at"].endswith("Z") and len(view["created_at"]) == len(local_view["created_at"])

    changed = tmp_path / "acme-imagegen-v2.yaml"
    changed.write_text(EXAMPLE.read_text().replace('  version: "3.2"\n', '  version: "4.0"\n', 1))
    updated = cli("systems", "update", "acme-imagegen", str(changed), *remote, "--reason", "new model")
    assert updated.code == 0, updated.err
    assert updated.out.startswith("updated acme-imagegen to version 2\n")
    assert "Acme ImageGen (acme-imagegen) by Acme Imaging B.V. — version 2" in updated.out
    stale = cli("systems", "update", "acme-imagegen", str(changed), *remote, "--expected-version", "1")
    message, hint = _one_line_error(stale)
    assert "version" in message

    images = tmp_path / "out"
    images.mkdir()
    (images / "a.png").write_bytes(encode(synthetic_pixels(1)))
    (images / "b.jpg").write_bytes(encode(synthetic_pixels(2), "JPEG", quality=92))
    marked = cli("mark", str(images / "a.png"), str(images / "b.jpg"), "--system", "acme-imagegen", *remote, "--json")
    assert marked.code == 0, marked.err
    records = [json.loads(line) for line in marked.out.splitlines()]
    assert [Path(r["output"]).name for r in records] == ["a.marked.png", "b.marked.jpg"]
    assert all(r["system_id"] == "acme-imagegen" and len(r["mark_id"]) == 16 for r in records)
    assert set(records[0]) == {*_local_mark_fields(), "input", "output"}

    # Anyone checks the marked files against the register, the log proof verified here with the log's key.
    checked = cli("check", str(images / "a.marked.png"), "--server", served.url, "--log-key", served.vkey, "--json")
    assert checked.code == 1, checked.err
    verdict = json.loads(checked.out)
    assert verdict["status"] == "marked" and verdict["mark_id"] == records[0]["mark_id"]
    assert verdict["log"]["verified"] is True
    text = cli("check", str(images), "--remote", served.url, "--log-key", served.vkey)  # the older flag name
    assert (
        text.code == 1
        and "AI-generated by Acme ImageGen" in text.out
        and "4 checked: 2 attributed, 0 errors" in text.err
    )

    # The token is never shown or logged, and the provider's machine got no database.
    for r in (published, updated, marked, checked):
        assert served.token not in r.out + r.err
    assert not any(served.token in (rec.getMessage() + repr(rec.args)) for rec in caplog.records)
    assert not provider_data.exists()


def _local_mark_fields() -> set[str]:
    return {
        "key_id",
        "mark_id",
        "system_id",
        "media_type",
        "sha256",
        "phash",
        "manifest_id",
        "log_index",
        "created_at",
        "bytes",
    }


def test_environment_variables_wrong_token_and_refusals(served: Served, cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "x.png"
    image.write_bytes(encode(synthetic_pixels(3, 160, 120)))
    monkeypatch.setenv("ASSAY_SERVER", served.url)

    # Without a token: said before anything is sent.
    message, hint = _one_line_error(cli("systems", "publish", str(EXAMPLE)))
    assert "needs your API token" in message and "ASSAY_TOKEN" in hint
    # A wrong token: the register's 401, as one line with its hint; the wrong token is not echoed either.
    wrong = "ast_" + "x" * 40
    monkeypatch.setenv("ASSAY_TOKEN", wrong)
    r = cli("mark", str(image), "--system", "acme-imagegen")
    message, hint = _one_line_error(r)
    assert "token" in message.lower() and wrong not in r.out + r.err
    assert not (tmp_path / "x.marked.png").exists()
    # The admin's token is not a provider's: publishing for acme with it works (admins may), marking another
    # provider's system with acme's token is refused with the register's 403 and its hint.
    monkeypatch.setenv("ASSAY_TOKEN", served.token)
    with served.db.write() as session:
        service.add_provider(session, id="other", name="Other Ltd", principal=OPERATOR)
    doc = (
        EXAMPLE.read_text()
        .replace("id: acme\n", "id: other\n", 1)
        .replace("legal_name: Acme Imaging B.V.", "legal_name: Other Ltd", 1)  # as the register knows it
        .replace("id: acme-imagegen", "id: other-gen", 1)
    )
    other = tmp_path / "other.yaml"
    other.write_text(doc)
    admin_publish = cli("systems", "publish", str(other), "--token", served.admin, "--provider", "other", "--json")
    assert admin_publish.code == 0, admin_publish.err
    message, hint = _one_line_error(cli("mark", str(image), "--system", json.loads(admin_publish.out)["id"]))
    assert hint  # the register's own hint, passed through
    # Marking with a kit and on the register at once makes no sense.
    message, _ = _one_line_error(cli("mark", str(image), "--system", "x", "--offline"))
    assert "--server" in message


def test_wrong_server_server_down_and_plain_http_elsewhere(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Not an Assay register: a plain web server that answers HTML.
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # its access log would mix with the CLI's stderr
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        message, hint = _one_line_error(cli("systems", "publish", str(EXAMPLE), "--server", url, "--token", "ast_t"))
        assert "did not answer POST /api/v1/systems like an Assay register" in message and "--server" in hint
    finally:
        httpd.shutdown()
        httpd.server_close()
    # Nothing listening.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    image = tmp_path / "x.png"
    image.write_bytes(encode(synthetic_pixels(4, 160, 120)))
    down = cli("check", str(image), str(image), "--server", f"http://127.0.0.1:{port}")
    message, hint = _one_line_error(down)
    assert "cannot reach the register" in message and "connection refused" in message
    assert down.err.count("error:") == 1  # one error for the run, not one per file
    # Plain http to another machine: refused before anything is sent (192.0.2.1 is a documentation address).
    message, hint = _one_line_error(
        cli("systems", "publish", str(EXAMPLE), "--server", "http://192.0.2.1", "--token", "ast_t")
    )
    assert "plain http" in message and "--unsafe-http" in hint
    message, _ = _one_line_error(cli("check", str(image), "--server", "https://user:pw@register.example"))
    assert "user name or password" in message and "pw" not in message


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate it issued for 127.0.0.1, as a register behind a private CA has."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test private CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_pem, cert_pem, key_pem


def test_tls_is_verified_and_a_private_ca_is_trusted_only_when_given(  # type: ignore[no-untyped-def]
    tmp_path, sqlite_db, serve_app, cli
) -> None:
    ca, cert, key = _tls_files(tmp_path / "tls")
    app, token, _ = _register(tmp_path, sqlite_db)
    with serve_app(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://127.0.0.1:")
        refused = cli("systems", "publish", str(EXAMPLE), "--server", url, "--token", token)
        message, hint = _one_line_error(refused)
        assert "TLS certificate" in message and "could not be verified" in message and "--ca-bundle" in hint
        assert token not in refused.out + refused.err
        with sqlite_db.read() as session:
            assert service.get_system(session, "acme-imagegen") is None  # nothing was sent
        # Another CA given as the bundle does not help: only the register's own CA does.
        other_ca, _, _ = _tls_files(tmp_path / "other-tls")
        message, _ = _one_line_error(
            cli("systems", "publish", str(EXAMPLE), "--server", url, "--token", token, "--ca-bundle", str(other_ca))
        )
        assert "could not be verified" in message
        ok = cli("systems", "publish", str(EXAMPLE), "--server", url, "--token", token, "--ca-bundle", str(ca))
        assert ok.code == 0, ok.err
        assert ok.out.startswith(f"published {url}/systems/acme-imagegen\n")
        message, hint = _one_line_error(cli("check", str(EXAMPLE), "--server", url, "--ca-bundle", str(tmp_path)))
        assert "cannot use" in message and "CA bundle" in message
