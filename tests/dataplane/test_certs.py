"""The run's certificates: what they contain and how they are stored."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

from cryptography import x509

from meshconform.certs import RunCertificates, TestCA


def test_keys_are_private_and_certs_verify(tmp_path: Path) -> None:
    certs = RunCertificates.create(tmp_path, ["app.example.com", "127.0.0.1"])
    for pair in (certs.server, certs.expired, certs.other_host, certs.untrusted):
        assert stat.S_IMODE(pair.key_path.stat().st_mode) == 0o600
        assert b"PRIVATE KEY" not in pair.cert_pem()
    context = ssl.create_default_context(cafile=str(certs.ca.cert_path))
    context.load_cert_chain(certs.server.cert_path, certs.server.key_path)  # key matches
    cert = x509.load_pem_x509_certificate(certs.server.cert_pem())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["app.example.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.issuer == x509.load_pem_x509_certificate(certs.ca.cert_path.read_bytes()).subject


def test_expired_and_unrelated(tmp_path: Path) -> None:
    certs = RunCertificates.create(tmp_path, ["app.example.com"])
    expired = x509.load_pem_x509_certificate(certs.expired.cert_pem())
    assert expired.not_valid_after_utc < dt.datetime.now(dt.UTC)
    untrusted = x509.load_pem_x509_certificate(certs.untrusted.cert_pem())
    assert untrusted.issuer != x509.load_pem_x509_certificate(
        certs.ca.cert_path.read_bytes()).subject
    assert "app.example.com" in certs.server.describe()


def test_ca_is_not_collected_as_a_test() -> None:
    assert TestCA.__test__ is False
