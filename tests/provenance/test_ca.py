"""The register as certificate authority: C2PA certificate profile, validation of brought certificates, CRL."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.errors import VerificationError
from assay.provenance.ca import C2PA_CLAIM_SIGNING, DOCUMENT_SIGNING, CertificateAuthority, validate_signing_chain


@pytest.fixture
def ca(tmp_path):  # type: ignore[no-untyped-def]
    return CertificateAuthority.open(tmp_path, name="Test register")


def test_issued_certificate_meets_the_c2pa_profile(ca: CertificateAuthority) -> None:
    key, chain = ca.issue(
        provider_id="acme",
        organization="Acme Imaging B.V.",
        country="NL",
        provider_url="https://r.example/providers/acme",
    )
    leaf = chain.leaf
    assert key is not None and isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert chain.alg == "es256"
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING} <= eku
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Imaging B.V."
    assert leaf.issuer != leaf.subject
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The chain sent with signatures holds the leaf and the intermediate, never the root.
    assert [c.subject for c in chain.certificates] == [leaf.subject, ca.intermediate.subject]
    assert ca.validate(chain.certificates).leaf == leaf


def test_the_ca_is_created_once_with_private_key_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a = CertificateAuthority.open(tmp_path)
    b = CertificateAuthority.open(tmp_path)
    assert a.root == b.root
    folder = tmp_path / "provenance" / "ca"
    for name in ("root.key.pem", "intermediate.key.pem"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def _leaf(
    issuer_cert: x509.Certificate | None,
    issuer_key,
    *,
    eku=(C2PA_CLAIM_SIGNING,),
    org="Acme",  # type: ignore[no-untyped-def]
    ca_flag=False,
    ku_sign=True,
    self_signed=False,
    days=30,
    aki=True,
):
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    name = x509.Name(attrs)
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if self_signed else issuer_cert.subject)  # type: ignore[union-attr]
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(ku_sign, False, False, False, False, ca_flag, ca_flag, False, False), critical=True
        )
    )
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if aki and not self_signed:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return b.sign(key if self_signed else issuer_key, hashes.SHA256())


@pytest.mark.parametrize(
    "case,needle",
    [
        ("self_signed", "self-signed"),
        ("no_eku", "no extended key usage"),
        ("any_eku", "anyExtendedKeyUsage"),
        ("server_auth_only", "names no C2PA purpose"),
        ("ca_leaf", "CA certificate"),
        ("no_digital_signature", "digitalSignature"),
        ("no_org", "O (organization)"),
        ("no_aki", "authority key identifier"),
        ("foreign_issuer", "does not lead to a trusted anchor"),
    ],
)
def test_brought_certificates_are_checked_against_the_profile(ca: CertificateAuthority, case: str, needle: str) -> None:
    # A foreign CA plays the provider's own CA; only 'foreign_issuer' leaves it unaccepted.
    fkey = ec.generate_private_key(ec.SECP256R1())
    fname = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Provider CA")])
    now = dt.datetime.now(dt.UTC)
    froot = (
        x509.CertificateBuilder()
        .subject_name(fname)
        .issuer_name(fname)
        .public_key(fkey.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(fkey, hashes.SHA256())
    )
    kwargs = {
        "self_signed": {"self_signed": True},
        "no_eku": {"eku": ()},
        "any_eku": {"eku": (x509.ObjectIdentifier("2.5.29.37.0"),)},
        "server_auth_only": {"eku": (ExtendedKeyUsageOID.SERVER_AUTH,)},
        "ca_leaf": {"ca_flag": True},
        "no_digital_signature": {"ku_sign": False},
        "no_org": {"org": ""},
        "no_aki": {"aki": False},
        "foreign_issuer": {},
    }[case]
    leaf = _leaf(froot, fkey, **kwargs)
    anchors = [ca.root] if case == "foreign_issuer" else [ca.root, froot]
    with pytest.raises(VerificationError) as err:
        validate_signing_chain([leaf], anchors=anchors)
    assert needle in err.value.message
    if case != "foreign_issuer":
        return
    # Once the operator accepts the provider's root, the same chain is valid.
    ca.accept_anchor(froot)
    assert ca.validate([leaf]).leaf == leaf
    assert CertificateAuthority.open(ca.folder.parent.parent).extra_anchors == (froot,)


def test_an_expired_certificate_is_refused(ca: CertificateAuthority) -> None:
    _, chain = ca.issue(provider_id="acme", organization="Acme", days=1)
    with pytest.raises(VerificationError, match="not valid now"):
        ca.validate(chain.certificates, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))


def test_crl_lists_revoked_serials(ca: CertificateAuthority) -> None:
    _, chain = ca.issue(provider_id="acme", organization="Acme")
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    crl = x509.load_der_x509_crl(ca.crl_der([(chain.leaf.serial_number, when)]))
    assert crl.is_signature_valid(ca.intermediate.public_key())
    revoked = crl.get_revoked_certificate_by_serial_number(chain.leaf.serial_number)
    assert revoked is not None and revoked.revocation_date_utc == when
    assert crl.get_revoked_certificate_by_serial_number(chain.leaf.serial_number + 1) is None
