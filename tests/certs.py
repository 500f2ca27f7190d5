"""A throwaway test CA and server certificates made with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertSet", "make_certs"]


@dataclass(frozen=True)
class CertSet:
    """Paths of a CA and the server certificates it signed."""

    ca_file: Path  # the CA certificate to pin
    cert_file: Path  # server cert for localhost / 127.0.0.1
    key_file: Path
    wrong_host_cert: Path  # valid, but for other.example only
    expired_cert: Path  # localhost, expired yesterday
    other_ca_file: Path  # a CA that signed nothing we serve (except `other_ca_cert`)
    future_cert: Path  # localhost, valid only from 30 days from now
    other_ca_cert: Path  # localhost / 127.0.0.1, signed by the other CA
    name_only_cert: Path  # localhost only: no IP address in it

    def server_context(self, cert: Path | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert or self.cert_file), str(self.key_file))
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ca(common: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    names: list[x509.GeneralName],
    *,
    expired: bool = False,
    future: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(days=1), now + dt.timedelta(days=825))
    if expired:
        start, end = (now - dt.timedelta(days=30), now - dt.timedelta(days=1))
    if future:
        start, end = (now + dt.timedelta(days=30), now + dt.timedelta(days=400))
    return (
        x509.CertificateBuilder()
        .subject_name(_name("bulk mailer test server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def make_certs(folder: Path) -> CertSet:
    """Write a CA, a good server cert, a wrong-host cert and an expired cert into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("Bulk Mailer Test CA")
    other_ca, other_key = _ca("Some Other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    good = _leaf(
        ca,
        ca_key,
        key,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    wrong = _leaf(ca, ca_key, key, [x509.DNSName("other.example")])
    expired = _leaf(
        ca,
        ca_key,
        key,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        expired=True,
    )
    both_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    future = _leaf(ca, ca_key, key, both_names, future=True)
    by_other = _leaf(other_ca, other_key, key, both_names)
    name_only = _leaf(ca, ca_key, key, [x509.DNSName("localhost")])
    key_file = folder / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return CertSet(
        ca_file=_write_pem(folder / "ca.pem", ca),
        cert_file=_write_pem(folder / "server.pem", good),
        key_file=key_file,
        wrong_host_cert=_write_pem(folder / "wrong-host.pem", wrong),
        expired_cert=_write_pem(folder / "expired.pem", expired),
        other_ca_file=_write_pem(folder / "other-ca.pem", other_ca),
        future_cert=_write_pem(folder / "future.pem", future),
        other_ca_cert=_write_pem(folder / "by-other-ca.pem", by_other),
        name_only_cert=_write_pem(folder / "name-only.pem", name_only),
    )
