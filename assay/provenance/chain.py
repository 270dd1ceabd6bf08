"""Claim-signing certificate chains: the C2PA 2.2 certificate profile, and checking a chain against it.

Used by the register's own CA (:mod:`assay.provenance.ca`) and for certificates providers bring themselves.
Holds no key and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from assay.db.types import utc_now as _now
from assay.errors import InvalidInput, VerificationError

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "DOCUMENT_SIGNING",
    "SigningChain",
    "alg_for_key",
    "check_ca_certificate",
    "extension",
    "fingerprint",
    "load_chain",
    "name_attr",
    "self_signed",
    "subject_text",
    "validate_signing_chain",
]

_E = TypeVar("_E", bound=x509.ExtensionType)


C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_ALLOWED_EKUS = {C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING}
_ANY_EKU = ObjectIdentifier("2.5.29.37.0")
_ALLOWED_SIG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex (how certificates are named in the log and pages)."""
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class SigningChain:
    """A validated claim-signing chain: the leaf first, then intermediates (never the root)."""

    certificates: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def alg(self) -> str:
        """The C2PA signing algorithm name c2pa-python expects for this leaf's key."""
        return alg_for_key(self.leaf.public_key())

    def pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.certificates)

    @property
    def organization(self) -> str:
        return name_attr(self.leaf.subject, NameOID.ORGANIZATION_NAME)


def load_chain(pem: bytes, *, what: str = "certificate chain") -> list[x509.Certificate]:
    """Parse a PEM bundle, wrapping parser errors into a precise :class:`InvalidInput`."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InvalidInput(
            f"the {what} is not a PEM certificate bundle: {exc}",
            hint="give the leaf certificate first, then its intermediates, each as '-----BEGIN CERTIFICATE-----'",
        ) from None
    return certs


def validate_signing_chain(
    chain: list[x509.Certificate], *, anchors: Iterable[x509.Certificate], now: dt.datetime | None = None
) -> SigningChain:
    """Validate a claim-signing chain (leaf first) against the C2PA 2.2 certificate profile.

    Steps, each failing closed with a :class:`VerificationError` naming the rule and the fix:

    1. the chain is non-empty and holds no root (C2PA's x5chain excludes the anchor);
    2. the leaf is valid now, is X.509 v3, is not self-signed and is not a CA;
    3. its key is ES256/384/512, PS256+ (RSA >= 2048) or Ed25519, and its signature hash is SHA-2;
    4. key usage is present with digitalSignature and without keyCertSign/cRLSign;
    5. the EKU list is present, non-empty, has no anyExtendedKeyUsage and names a C2PA-allowed purpose;
    6. the authority key identifier is present and the subject has an O attribute;
    7. each certificate is signed by the next, intermediates are CAs, and the last is signed by an anchor.
    """
    now = now or _now()
    anchors = list(anchors)
    if not chain:
        raise VerificationError("the certificate chain is empty", hint="give the leaf certificate first")
    # 1.
    for c in chain:
        if c.issuer == c.subject and self_signed(c):
            raise VerificationError(
                f"the chain contains a self-signed certificate ({subject_text(c)})",
                hint="leave the root out: C2PA signers send the leaf and intermediates only; "
                "a self-signed leaf is never accepted",
            )
    leaf = chain[0]
    # 2.
    if leaf.version != x509.Version.v3:
        raise VerificationError("the signing certificate is not X.509 version 3", hint="re-issue it as v3")
    if not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
        raise VerificationError(
            f"the signing certificate is not valid now (valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d})",
            hint="renew the certificate",
        )
    bc = extension(leaf, x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise VerificationError(
            "the signing certificate is a CA certificate",
            hint="sign claims with an end-entity certificate (basicConstraints cA=false)",
        )
    # 3.
    alg_for_key(leaf.public_key())
    for c in chain:
        h = c.signature_hash_algorithm
        if (
            not isinstance(c.public_key(), ed25519.Ed25519PublicKey)
            and h is not None
            and not isinstance(h, _ALLOWED_SIG_HASHES)
        ):
            raise VerificationError(
                f"{subject_text(c)} is signed with {h.name}, which C2PA does not allow",
                hint="re-issue it with SHA-256 or stronger",
            )
    # 4.
    ku = extension(leaf, x509.KeyUsage)
    if ku is None or not ku.digital_signature:
        raise VerificationError(
            "the signing certificate's key usage lacks digitalSignature",
            hint="issue it with keyUsage=critical,digitalSignature",
        )
    if ku.key_cert_sign or ku.crl_sign:
        raise VerificationError(
            "the signing certificate may sign certificates or CRLs (keyCertSign/cRLSign)",
            hint="claim-signing certificates must not be CA keys",
        )
    # 5.
    eku = extension(leaf, x509.ExtendedKeyUsage)
    if eku is None or len(list(eku)) == 0:
        raise VerificationError(
            "the signing certificate has no extended key usage",
            hint="add c2pa-kp-claimSigning (1.3.6.1.4.1.62558.2.1) or emailProtection",
        )
    ekus = set(eku)
    if _ANY_EKU in ekus:
        raise VerificationError(
            "the signing certificate allows anyExtendedKeyUsage", hint="list only the purposes C2PA allows"
        )
    if not ekus & _ALLOWED_EKUS:
        raise VerificationError(
            "the signing certificate's extended key usage names no C2PA purpose",
            hint="add c2pa-kp-claimSigning (1.3.6.1.4.1.62558.2.1), emailProtection or documentSigning",
        )
    # 6.
    if extension(leaf, x509.AuthorityKeyIdentifier) is None:
        raise VerificationError(
            "the signing certificate has no authority key identifier", hint="issue it with authorityKeyIdentifier=keyid"
        )
    if not name_attr(leaf.subject, NameOID.ORGANIZATION_NAME):
        raise VerificationError(
            "the signing certificate's subject has no O (organization) attribute",
            hint="put the provider's legal name in O",
        )
    # 7.
    for child, parent in zip(chain, chain[1:], strict=False):
        check_ca_certificate(parent, what=subject_text(parent))
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise VerificationError(
                f"{subject_text(child)} is not issued by {subject_text(parent)}",
                hint="give the chain in order: leaf, then the intermediate that issued it",
            ) from None
    last = chain[-1]
    for anchor in anchors:
        try:
            last.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if not (anchor.not_valid_before_utc <= now <= anchor.not_valid_after_utc):
            continue
        return SigningChain(tuple(chain))
    raise VerificationError(
        f"the chain does not lead to a trusted anchor (last certificate: {subject_text(last)})",
        hint="include the intermediates, or ask the operator to accept your root with 'assay ca accept-anchor'",
    )


def subject_text(c: x509.Certificate) -> str:
    return c.subject.rfc4514_string() or "(empty subject)"


def name_attr(name: x509.Name, oid: ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def extension(c: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return c.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def self_signed(c: x509.Certificate) -> bool:
    try:
        c.verify_directly_issued_by(c)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_ca_certificate(c: x509.Certificate, *, what: str) -> None:
    bc = extension(c, x509.BasicConstraints)
    if bc is None or not bc.ca:
        raise VerificationError(
            f"{what} is not a CA certificate (basicConstraints cA=true is missing)",
            hint="give the intermediate and root CA certificates, not another leaf",
        )


def alg_for_key(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name)
        if alg:
            return alg
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return "ps256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise VerificationError(
        "the signing certificate's key is not one C2PA allows",
        hint="use EC P-256/P-384/P-521, RSA of at least 2048 bits (PSS), or Ed25519",
    )
