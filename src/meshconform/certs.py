"""A per-run test CA and the leaf certificates the TLS checks need.

The dataplane tier hands these files to Envoy; the live tier turns them into
gateway Secrets (``kubernetes.io/tls``: ``tls.crt``/``tls.key``, see
istio.io tasks/traffic-management/ingress/secure-ingress). Keys are EC P-256,
written with mode 0600, and never printed: only certificate paths and subjects
appear in evidence.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key on disk (PEM)."""

    cert_path: Path
    key_path: Path
    names: tuple[str, ...]
    not_after: dt.datetime

    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()

    def key_pem(self) -> bytes:
        """The private key: for Secrets and Envoy only, never for logs or reports."""
        return self.key_path.read_bytes()

    def describe(self) -> str:
        return f"certificate for {', '.join(self.names)} (expires {self.not_after:%Y-%m-%d})"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _slug(names: Sequence[str]) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", names[0]).strip("_") or "cert"


@dataclass
class TestCA:
    """A self-signed CA created for one run; issues server certificates."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    directory: Path
    name: str
    cert_path: Path
    _key: ec.EllipticCurvePrivateKey
    _cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, name: str = "meshconform test CA") -> TestCA:
        """Create a CA valid from yesterday for 30 days; writes ``<slug>-ca.pem`` (+ key)."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshconform"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _ONE_DAY)
            .not_valid_after(now + 30 * _ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        slug = _slug([name.replace(" ", "-")])
        cert_path = directory / f"{slug}-ca.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(directory / f"{slug}-ca.key", _key_pem(key))
        return cls(directory=directory, name=name, cert_path=cert_path, _key=key, _cert=cert)

    def issue(
        self,
        names: Sequence[str],
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        stem: str | None = None,
    ) -> CertPair:
        """Issue a server certificate for ``names`` (DNS names or IPs; the first is the CN)."""
        if not names:
            raise ValueError("a certificate needs at least one name")
        now = dt.datetime.now(dt.UTC)
        start = not_before or now - _ONE_DAY
        end = not_after or now + 7 * _ONE_DAY
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        base = stem or _slug(names)
        cert_path = self.directory / f"{base}.pem"
        key_path = self.directory / f"{base}.key"
        # the chain Envoy serves: leaf only, as a kubernetes.io/tls Secret usually holds
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(key_path, _key_pem(key))
        return CertPair(cert_path=cert_path, key_path=key_path, names=tuple(names), not_after=end)

    def issue_expired(self, names: Sequence[str], *, stem: str | None = None) -> CertPair:
        """A certificate for ``names`` whose validity ended yesterday."""
        now = dt.datetime.now(dt.UTC)
        return self.issue(
            names,
            not_before=now - 10 * _ONE_DAY,
            not_after=now - _ONE_DAY,
            stem=stem or f"{_slug(names)}-expired",
        )


@dataclass(frozen=True)
class RunCertificates:
    """Everything the TLS checks of one run use, created together."""

    ca: TestCA
    other_ca: TestCA
    server: CertPair
    expired: CertPair
    other_host: CertPair
    untrusted: CertPair

    @classmethod
    def create(
        cls, directory: Path, hosts: Sequence[str], other_host: str = "other.example.net"
    ) -> RunCertificates:
        """The run CA, an unrelated CA, and leaf certificates for ``hosts``:
        valid, expired, for ``other_host``, and valid but signed by the unrelated CA."""
        ca = TestCA.create(directory / "ca")
        other = TestCA.create(directory / "other-ca", name="meshconform unrelated CA")
        return cls(
            ca=ca,
            other_ca=other,
            server=ca.issue(hosts, stem="server"),
            expired=ca.issue_expired(hosts, stem="server-expired"),
            other_host=ca.issue([other_host], stem="other-host"),
            untrusted=other.issue(hosts, stem="server-untrusted"),
        )
