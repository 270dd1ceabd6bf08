"""The register as a certificate authority for C2PA claim signing.

The register keeps a root (the published trust anchor) and an intermediate that issues one signing
certificate per provider. Certificates follow the C2PA 2.2 certificate profile: ES256 keys, the
digitalSignature key usage, an EKU list with c2pa-kp-claimSigning, emailProtection and documentSigning,
authority and subject key identifiers, an O attribute, never self-signed. Private keys live in the data
folder (created on first use, mode 0600, never committed, never printed). Providers may bring their own
certificate instead: :func:`validate_signing_chain` checks it against the same profile.

The root's key is needed only to sign an intermediate (every ten years, or after a compromise), so it can be
kept offline: :func:`create_offline_root` makes it in a folder of its own (removable media, an air-gapped
machine), :func:`install_intermediate` signs an intermediate from there into the data folder, and
:func:`move_root_offline` takes an existing root's key out of the data folder. The server then holds only the
root's certificate and the intermediate, and refuses to start without the intermediate
(:func:`check_ready`).

Example::

    ca = CertificateAuthority.open(Path("data"), name="register.example")
    key, chain = ca.issue(provider_id="acme", organization="Acme Corp", country="DE")
    anchors = ca.anchors_pem()          # what /trust/anchors.pem serves
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.db.types import utc_now as _now
from assay.errors import ConfigError, InvalidInput
from assay.files import fsync_dir, replace_durably
from assay.provenance.chain import (
    C2PA_CLAIM_SIGNING,
    DOCUMENT_SIGNING,
    SigningChain,
    check_ca_certificate,
    fingerprint,
    load_chain,
    validate_signing_chain,
)

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "DOCUMENT_SIGNING",
    "CertificateAuthority",
    "SigningChain",
    "check_ready",
    "create_offline_root",
    "fingerprint",
    "install_intermediate",
    "load_chain",
    "move_root_offline",
    "read_anchors_pem",
    "validate_signing_chain",
]


ROOT_YEARS = 20
INTERMEDIATE_YEARS = 10
LEAF_DAYS = 2 * 365 + 1


def read_anchors_pem(data_dir: Path) -> bytes:
    """The published trust anchors of the CA in ``data_dir`` (its root, then any accepted roots), read without
    touching a private key and without creating anything: b"" when the register has no CA yet.

    What a checking process needs (see :class:`assay.provenance.evidence.VerifierMaterial`)."""
    folder = Path(data_dir) / "provenance" / "ca"
    try:
        root = (folder / "root.pem").read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise ConfigError(
            f"the register's trust anchor {folder / 'root.pem'} is unreadable: {exc.strerror}",
            hint="check the data folder's permissions",
        ) from None
    extra = folder / "accepted-anchors.pem"
    certs = load_chain(root, what=str(folder / "root.pem"))
    if extra.exists():
        certs += load_chain(extra.read_bytes(), what=str(extra))
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class CertificateAuthority:
    """The register's root and intermediate, kept in ``<data_dir>/provenance/ca``.

    Created on first use under a file lock, so two processes starting at once agree on one root.
    """

    def __init__(
        self,
        folder: Path,
        root: x509.Certificate,
        intermediate: x509.Certificate,
        intermediate_key: ec.EllipticCurvePrivateKey,
        extra_anchors: tuple[x509.Certificate, ...],
    ) -> None:
        self.folder = folder
        self.root = root
        self.intermediate = intermediate
        self._intermediate_key = intermediate_key  # owned by this object; never serialised outside the data folder
        self.extra_anchors = extra_anchors

    # -- opening ---------------------------------------------------------------------------------------------

    @property
    def root_key_online(self) -> bool:
        """Whether the root's private key is in the data folder (else it is kept offline)."""
        return (self.folder / "root.key.pem").exists()

    @classmethod
    def open(
        cls, data_dir: Path, *, name: str = "Assay register", create: bool = True, now: dt.datetime | None = None
    ) -> CertificateAuthority:
        folder = ca_folder(data_dir)
        check_ready(data_dir)
        if not (folder / "root.pem").exists():
            if not create:
                raise ConfigError(
                    f"the register's certificate authority does not exist in {folder}",
                    hint="run 'assay ca init' (or any marking command, which creates it)",
                )
            _private_dir(folder)
            with _locked(folder / ".lock"):
                if not (folder / "root.pem").exists():
                    _create_hierarchy(folder, name=name, now=now or _now())
        try:
            root = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
            intermediate = x509.load_pem_x509_certificate((folder / "intermediate.pem").read_bytes())
            key = serialization.load_pem_private_key((folder / "intermediate.key.pem").read_bytes(), None)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the certificate authority in {folder} is unreadable or damaged: {exc}",
                hint="restore the folder from a backup; never regenerate a published root silently",
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(
                f"{folder / 'intermediate.key.pem'} is not an EC key", hint="restore the CA folder from a backup"
            )
        extra: list[x509.Certificate] = []
        anchors_file = folder / "accepted-anchors.pem"
        if anchors_file.exists():
            extra = load_chain(anchors_file.read_bytes(), what=str(anchors_file))
        return cls(folder, root, intermediate, key, tuple(extra))

    # -- published material ----------------------------------------------------------------------------------

    def anchors_pem(self) -> bytes:
        """The trust anchors to give c2pa's Reader: the register's root, then any accepted provider roots."""
        certs = (self.root, *self.extra_anchors)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def intermediate_pem(self) -> bytes:
        return self.intermediate.public_bytes(serialization.Encoding.PEM)

    def accept_anchor(self, anchor: x509.Certificate) -> None:
        """Trust another root for providers who bring their own certificate (an operator decision)."""
        if fingerprint(anchor) in {fingerprint(c) for c in (self.root, *self.extra_anchors)}:
            return
        check_ca_certificate(anchor, what="the anchor")
        with _locked(self.folder / ".lock"):
            path = self.folder / "accepted-anchors.pem"
            existing = path.read_bytes() if path.exists() else b""
            replace_durably(path, existing + anchor.public_bytes(serialization.Encoding.PEM), mode=0o644)
        self.extra_anchors = (*self.extra_anchors, anchor)

    # -- issuing ---------------------------------------------------------------------------------------------

    def issue(
        self,
        *,
        provider_id: str,
        organization: str,
        country: str = "",
        provider_url: str = "",
        public_key: ec.EllipticCurvePublicKey | None = None,
        now: dt.datetime | None = None,
        days: int = LEAF_DAYS,
    ) -> tuple[ec.EllipticCurvePrivateKey | None, SigningChain]:
        """Issue a claim-signing certificate for a provider.

        With no ``public_key`` a fresh P-256 key is generated and returned (the caller stores it); with one
        (from the provider's own key pair) only the certificate is made and ``None`` is returned as key.
        """
        if not organization.strip():
            raise InvalidInput(
                "the provider has no name to put in the certificate's O attribute",
                hint="give the provider a name in the register first",
            )
        now = now or _now()
        key = None
        if public_key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = key.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
            raise InvalidInput(
                "the provider's public key must be an EC P-256 key (for ES256)",
                hint="generate one with 'openssl ecparam -name prime256v1 -genkey'",
            )
        attrs = [
            x509.NameAttribute(NameOID.COMMON_NAME, _cn(f"{organization} content credentials")),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _cn(f"assay provider {provider_id}")),
        ]
        if re.fullmatch(r"[A-Z]{2}", country or ""):
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=days), self.intermediate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._intermediate_key.public_key()), critical=False
            )
        )
        if provider_url:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(provider_url)]), critical=False
            )
        leaf = builder.sign(self._intermediate_key, hashes.SHA256())
        return key, SigningChain((leaf, self.intermediate))

    def crl_der(self, revoked: Iterable[tuple[int, dt.datetime]], *, now: dt.datetime | None = None) -> bytes:
        """A CRL, signed by the intermediate, listing revoked provider certificates (serial, time)."""
        now = now or _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.intermediate.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=1))
        )
        for serial, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self._intermediate_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def validate(self, chain: Iterable[x509.Certificate], *, now: dt.datetime | None = None) -> SigningChain:
        """Check a chain against the C2PA profile and the register's anchors (the register's and accepted)."""
        return validate_signing_chain(list(chain), anchors=(self.root, *self.extra_anchors), now=now)


# -- keeping the root offline ----------------------------------------------------------------------------------


def ca_folder(data_dir: Path) -> Path:
    return Path(data_dir) / "provenance" / "ca"


def check_ready(data_dir: Path) -> None:
    """Refuse, with the fix, a CA that has a root but no usable intermediate and no root key to make one.

    A data folder without any CA is ready (the whole hierarchy is made on first use); one whose root is kept
    offline needs ``intermediate.pem`` and ``intermediate.key.pem``. Cheap: it only looks at which files exist.
    """
    folder = ca_folder(data_dir)
    if not (folder / "root.pem").exists():
        return
    missing = [f for f in ("intermediate.pem", "intermediate.key.pem") if not (folder / f).exists()]
    if missing:
        raise ConfigError(
            f"the register's intermediate CA is missing in {folder} ({', '.join(missing)}), and its root key is "
            + ("there but the intermediate was never made" if (folder / "root.key.pem").exists() else "offline"),
            hint="sign an intermediate from the root's folder: "
            "'assay ca install-intermediate --root-dir <folder holding root.key.pem>'",
        )


def create_offline_root(root_dir: Path, *, name: str, now: dt.datetime | None = None) -> x509.Certificate:
    """Create the register's root (key and certificate) in ``root_dir``, a folder of its own, unless one is there.

    Keep that folder offline (removable media, an air-gapped machine); it is needed again only to sign an
    intermediate with :func:`install_intermediate`.
    """
    _private_dir(root_dir)
    with _locked(root_dir / ".lock"):
        if not (root_dir / "root.pem").exists():
            key, cert = _make_root(name=name, now=now or _now())
            replace_durably(root_dir / "root.key.pem", _key_pem(key), mode=0o600)
            replace_durably(root_dir / "root.pem", cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return _load_root(root_dir)[1]


def install_intermediate(data_dir: Path, root_dir: Path, *, name: str, now: dt.datetime | None = None) -> None:
    """Sign a new intermediate with the root kept in ``root_dir`` and install it in the data folder.

    The intermediate's key is made in the data folder and never leaves it; the root's key is read from
    ``root_dir`` and never written anywhere else. A data folder that already has a CA must have this same root
    (its published anchor): a different one is refused. An existing intermediate is replaced (certificates it
    issued stay valid: each provider's chain carries the intermediate that signed it).
    """
    root_key, root = _load_root(root_dir)
    folder = ca_folder(data_dir)
    _private_dir(folder)
    with _locked(folder / ".lock"):
        if (folder / "root.pem").exists():
            current = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
            if fingerprint(current) != fingerprint(root):
                raise ConfigError(
                    f"the root in {root_dir} is not the register's root (published anchor {fingerprint(current)})",
                    hint="give the folder holding the register's own root key",
                )
        inter_key, inter = _make_intermediate(root_key, root, name=name, now=now or _now())
        pem = serialization.Encoding.PEM
        replace_durably(folder / "intermediate.key.pem", _key_pem(inter_key), mode=0o600)
        replace_durably(folder / "intermediate.pem", inter.public_bytes(pem), mode=0o644)
        replace_durably(folder / "root.pem", root.public_bytes(pem), mode=0o644)  # last: the CA now exists


def move_root_offline(data_dir: Path, root_dir: Path) -> x509.Certificate:
    """Move the root's key out of the data folder into ``root_dir`` (with a copy of its certificate).

    Written durably there and read back before it is removed here, so a crash leaves the key in one place or
    both, never in none. The server keeps working: it needs only the intermediate.
    """
    folder = ca_folder(data_dir)
    with _locked(folder / ".lock"):
        source = folder / "root.key.pem"
        if not source.exists():
            raise ConfigError(
                f"there is no root key in {folder}: it is already offline",
                hint="nothing to do; keep the folder that holds root.key.pem safe",
            )
        _private_dir(root_dir)
        if (root_dir / "root.key.pem").exists():
            raise ConfigError(
                f"{root_dir} already holds a root key", hint="choose an empty folder, never overwrite a root key"
            )
        replace_durably(root_dir / "root.key.pem", source.read_bytes(), mode=0o600)
        replace_durably(root_dir / "root.pem", (folder / "root.pem").read_bytes(), mode=0o644)
        _, root = _load_root(root_dir)  # the copy is whole and matches the certificate
        source.unlink()
        fsync_dir(folder)
    return root


def _load_root(root_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        cert = x509.load_pem_x509_certificate((root_dir / "root.pem").read_bytes())
        key = serialization.load_pem_private_key((root_dir / "root.key.pem").read_bytes(), None)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{root_dir} holds no root ({Path(exc.filename or '').name} is missing)",
            hint="give the folder 'assay ca init --root-dir' or 'assay ca move-root' wrote",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the root in {root_dir} is unreadable: {exc}", hint="restore it from a backup") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ConfigError(
            f"root.key.pem in {root_dir} is not the key of root.pem", hint="restore the root folder from a backup"
        )
    return key, cert


# -- internals ------------------------------------------------------------------------------------------------


def _cn(text: str) -> str:
    return text[:64]


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _make_root(*, name: str, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, _cn(f"{name} root CA")),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _cn(name)),
        ]
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA384())
    )
    return root_key, root


def _make_intermediate(
    root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate, *, name: str, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, _cn(f"{name} provider signing CA")),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _cn(name)),
        ]
    )
    inter = (
        x509.CertificateBuilder()
        .subject_name(inter_name)
        .issuer_name(root.subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=365 * INTERMEDIATE_YEARS), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA384())
    )
    return inter_key, inter


def _create_hierarchy(folder: Path, *, name: str, now: dt.datetime) -> None:
    """The whole hierarchy in the data folder, root key included (the first-run default; see move-root)."""
    root_key, root = _make_root(name=name, now=now)
    inter_key, inter = _make_intermediate(root_key, root, name=name, now=now)
    pem = serialization.Encoding.PEM
    replace_durably(folder / "root.key.pem", _key_pem(root_key), mode=0o600)
    replace_durably(folder / "intermediate.key.pem", _key_pem(inter_key), mode=0o600)
    replace_durably(folder / "intermediate.pem", inter.public_bytes(pem), mode=0o644)
    # The root certificate is written last: its presence means the whole hierarchy exists.
    replace_durably(folder / "root.pem", root.public_bytes(pem), mode=0o644)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM of a private key, for writing into the data folder only."""
    return _key_pem(key)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret into the data folder: private directory, mode 0600, atomic."""
    _private_dir(path.parent)
    replace_durably(path, data, mode=0o600)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
