"""Providers' C2PA signing credentials, as the register keeps them.

- :func:`issue_certificate`: the register's CA issues a provider a claim-signing certificate. With no public
  key given, the register generates the key pair and keeps the private key in its data folder (so it can sign
  for marks made through the API); with the provider's own public key, only the certificate is made.
- :func:`import_certificate`: a provider brings its own certificate chain (validated against the C2PA profile
  and the register's accepted anchors), optionally with its key for register-side marking.
- :func:`revoke_certificate`: revoked certificates are listed in the CRL and never used again.

Each issuance and revocation is a transparency-log entry (serial, fingerprint, provider, times; no key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.db import Database
from assay.db.types import aware as _aware
from assay.db.types import iso_z as _iso
from assay.db.types import utc_now as _now
from assay.errors import ConfigError, Conflict, InvalidInput, NotFound
from assay.provenance.ca import SigningChain, fingerprint, key_pem, load_chain, write_private
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.models import SigningCertificate
from assay.register.access import Principal
from assay.register.service import get_provider
from assay.transparency import record

__all__ = [
    "CertificateView",
    "SigningCredentials",
    "issue_certificate",
    "import_certificate",
    "list_certificates",
    "revoke_certificate",
    "signing_credentials",
]


@dataclass(frozen=True)
class CertificateView:
    """What may be shown about a certificate (public material only)."""

    id: int
    provider_id: str
    serial: str
    fingerprint: str
    subject: str
    origin: str
    not_before: dt.datetime
    not_after: dt.datetime
    held_by_register: bool
    revoked_at: dt.datetime | None
    issued_log_index: int | None
    chain_pem: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "serial": self.serial,
            "fingerprint": self.fingerprint,
            "subject": self.subject,
            "origin": self.origin,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "held_by_register": self.held_by_register,
            "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
            "log_index": self.issued_log_index,
        }


@dataclass(frozen=True)
class SigningCredentials:
    """A certificate chain and its private key, ready for c2pa's signer. Never logged (see __repr__)."""

    chain_pem: bytes
    key_pem: bytes
    alg: str
    fingerprint: str

    def __repr__(self) -> str:
        return f"SigningCredentials(fingerprint={self.fingerprint!r}, key=<secret>)"


def issue_certificate(
    db: Database,
    env: ProvenanceEnv,
    *,
    provider_id: str,
    principal: Principal,
    public_key_pem: bytes | None = None,
    now: dt.datetime | None = None,
) -> CertificateView:
    principal.require_provider(provider_id, action="get signing certificates")
    now = now or _now()
    with db.read() as session:
        provider = get_provider(session, provider_id)
    if provider is None:
        raise NotFound(f"there is no provider {provider_id!r}", hint="register the provider first")
    public_key = None
    if public_key_pem is not None:
        try:
            loaded = serialization.load_pem_public_key(public_key_pem)
        except ValueError:
            raise InvalidInput(
                "the public key is not a PEM public key", hint="export it with 'openssl ec -in key.pem -pubout'"
            ) from None
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise InvalidInput("the public key must be an EC P-256 key", hint="C2PA ES256 needs P-256")
        public_key = loaded
    country = provider.jurisdiction.upper() if len(provider.jurisdiction) == 2 else ""
    key, chain = env.ca.issue(
        provider_id=provider_id,
        organization=provider.name,
        country=country,
        provider_url=env.url(provider.url_path),
        public_key=public_key,
        now=now,
    )
    fp = fingerprint(chain.leaf)
    key_file = ""
    if key is not None:
        rel = Path("provenance") / "providers" / provider_id / f"{fp[:16]}.key.pem"
        write_private(env.data_dir / rel, key_pem(key))
        key_file = str(rel)
    with db.write() as session:
        return _store(session, provider_id, chain.certificates, origin="issued", key_file=key_file, now=now)


def import_certificate(
    db: Database,
    env: ProvenanceEnv,
    *,
    provider_id: str,
    principal: Principal,
    chain_pem: bytes,
    private_key_pem: bytes | None = None,
    now: dt.datetime | None = None,
) -> CertificateView:
    """Accept a provider's own certificate chain after checking it against the C2PA profile."""
    principal.require_provider(provider_id, action="bring signing certificates")
    now = now or _now()
    chain = env.ca.validate(load_chain(chain_pem), now=now)
    key_file = ""
    if private_key_pem is not None:
        try:
            key = serialization.load_pem_private_key(private_key_pem, None)
        except (ValueError, TypeError):
            raise InvalidInput(
                "the private key is not an unencrypted PEM private key",
                hint="give the key as PKCS#8 PEM without a passphrase",
            ) from None
        if key.public_key().public_bytes(
            serialization.Encoding.DER,  # type: ignore[union-attr]
            serialization.PublicFormat.SubjectPublicKeyInfo,
        ) != chain.leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise InvalidInput(
                "the private key does not belong to the certificate", hint="give the key the certificate was issued for"
            )
        rel = Path("provenance") / "providers" / provider_id / f"{fingerprint(chain.leaf)[:16]}.key.pem"
        write_private(env.data_dir / rel, private_key_pem)
        key_file = str(rel)
    with db.write() as session:
        if get_provider(session, provider_id) is None:
            raise NotFound(f"there is no provider {provider_id!r}", hint="register the provider first")
        return _store(session, provider_id, chain.certificates, origin="imported", key_file=key_file, now=now)


def revoke_certificate(
    db: Database, *, fingerprint_or_serial: str, principal: Principal, reason: str = "", now: dt.datetime | None = None
) -> CertificateView:
    now = now or _now()
    ref = fingerprint_or_serial.strip().lower()
    with db.write() as session:
        row = session.scalars(
            select(SigningCertificate)
            .where((SigningCertificate.fingerprint == ref) | (SigningCertificate.serial == ref))
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(
                f"there is no certificate {fingerprint_or_serial!r}",
                hint="give a fingerprint or serial from 'assay ca list'",
            )
        principal.require_provider(row.provider_id, action="revoke signing certificates")
        if row.revoked_at is not None:
            raise Conflict(f"certificate {row.serial} is already revoked", hint="nothing to do")
        row.revoked_at = now
        row.revoked_reason = (reason or "revoked")[:300]
        row.revoked_log_index = record(
            session,
            "provider.certificate.revoked",
            {
                "provider": row.provider_id,
                "serial": row.serial,
                "fingerprint": row.fingerprint,
                # The log commits to the reason by its hash: free text never goes in (it could name people).
                "reason_sha256": hashlib.sha256(row.revoked_reason.encode()).hexdigest(),
                "revoked_at": _iso(now),
            },
        )
        session.flush()
        return _view(row)


def list_certificates(session: Session, *, provider_id: str | None = None) -> list[CertificateView]:
    q = select(SigningCertificate).order_by(SigningCertificate.id)
    if provider_id:
        q = q.where(SigningCertificate.provider_id == provider_id)
    return [_view(r) for r in session.scalars(q)]


def revoked_serials(session: Session) -> list[tuple[int, dt.datetime]]:
    rows = session.scalars(
        select(SigningCertificate).where(
            SigningCertificate.revoked_at.is_not(None), SigningCertificate.origin == "issued"
        )
    )
    return [(int(r.serial, 16), _aware(r.revoked_at)) for r in rows if r.revoked_at is not None]


def signing_credentials(
    db: Database, env: ProvenanceEnv, *, provider_id: str, principal: Principal, now: dt.datetime | None = None
) -> SigningCredentials:
    """The provider's newest usable certificate whose key the register holds; issues one on first use."""
    now = now or _now()
    with db.read() as session:
        found = _usable(session, provider_id, now)
    if found is None:
        issue_certificate(db, env, provider_id=provider_id, principal=principal, now=now)
        with db.read() as session:
            found = _usable(session, provider_id, now)
        assert found is not None
    chain_pem, key_file, fp = found
    try:
        key = (env.data_dir / key_file).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the signing key {key_file} of provider {provider_id!r} is missing: {exc}",
            hint="restore the data folder, or revoke the certificate and issue a new one",
        ) from None
    leaf = load_chain(chain_pem.encode())[0]
    return SigningCredentials(chain_pem=chain_pem.encode(), key_pem=key, alg=SigningChain((leaf,)).alg, fingerprint=fp)


def _usable(session: Session, provider_id: str, now: dt.datetime) -> tuple[str, str, str] | None:
    """(chain PEM, key file, fingerprint) of the newest usable register-held certificate, read in-session."""
    rows = session.scalars(
        select(SigningCertificate)
        .where(
            SigningCertificate.provider_id == provider_id,
            SigningCertificate.revoked_at.is_(None),
            SigningCertificate.key_file != "",
        )
        .order_by(SigningCertificate.id.desc())
    )
    margin = dt.timedelta(days=1)
    for r in rows:
        if _aware(r.not_before) <= now and now + margin < _aware(r.not_after):
            return r.chain_pem, r.key_file, r.fingerprint
    return None


def _store(
    session: Session,
    provider_id: str,
    certs: tuple[x509.Certificate, ...],
    *,
    origin: str,
    key_file: str,
    now: dt.datetime,
) -> CertificateView:
    leaf = certs[0]
    fp = fingerprint(leaf)
    if session.scalars(select(SigningCertificate.id).where(SigningCertificate.fingerprint == fp)).first():
        raise Conflict("this certificate is already in the register", hint="see 'assay ca list'")
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs).decode()
    row = SigningCertificate(
        provider_id=provider_id,
        serial=f"{leaf.serial_number:x}",
        fingerprint=fp,
        subject=leaf.subject.rfc4514_string()[:500],
        chain_pem=pem,
        origin=origin,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        key_file=key_file,
        created_at=now,
        revoked_reason="",
    )
    session.add(row)
    session.flush()
    row.issued_log_index = record(
        session,
        "provider.certificate.issued",
        {
            "provider": provider_id,
            "serial": row.serial,
            "fingerprint": fp,
            "origin": origin,
            "not_before": _iso(row.not_before),
            "not_after": _iso(row.not_after),
        },
    )
    session.flush()
    return _view(row)


def _view(r: SigningCertificate) -> CertificateView:
    return CertificateView(
        id=r.id,
        provider_id=r.provider_id,
        serial=r.serial,
        fingerprint=r.fingerprint,
        subject=r.subject,
        origin=r.origin,
        not_before=_aware(r.not_before),
        not_after=_aware(r.not_after),
        held_by_register=bool(r.key_file),
        revoked_at=_aware(r.revoked_at) if r.revoked_at else None,
        issued_log_index=r.issued_log_index,
        chain_pem=r.chain_pem,
    )
