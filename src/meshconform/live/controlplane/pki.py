"""The controlplane cluster's PKI, made fresh for each cluster with ``cryptography``.

- a cluster CA (the API server's client CA and the root the controllers hand out as
  ``ca.crt`` in ServiceAccount token Secrets and ConfigMaps ``kube-root-ca.crt``);
- the API server's serving certificate for 127.0.0.1, localhost and the in-cluster
  names (``kubernetes.default.svc`` ...) and the first Service IP;
- one admin client certificate (``O=system:masters``) for the suite, the controllers,
  the scheduler, kwok and istiod: they run as processes with the cluster's admin
  rights, which kind's kubeadm also gives its control plane components;
- the ServiceAccount token signing key pair (RSA, as kubeadm makes it).

Private keys are written 0600 inside the cluster's own folder and never anywhere else.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: the first address of --service-cluster-ip-range, the ``kubernetes`` Service's ClusterIP
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
_VALIDITY = dt.timedelta(days=7)
_SKEW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class ClusterPKI:
    """Paths of the PEM files one control plane uses."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.folder / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.folder / "admin.key"

    @property
    def sa_public(self) -> Path:
        return self.folder / "sa.pub"

    @property
    def sa_private(self) -> Path:
        return self.folder / "sa.key"

    def complete(self) -> bool:
        files = (self.ca_cert, self.ca_key, self.serving_cert, self.serving_key)
        more = (self.admin_cert, self.admin_key, self.sa_public, self.sa_private)
        return all(p.is_file() for p in (*files, *more))


def _write(path: Path, data: bytes, private: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def create_pki(folder: Path) -> ClusterPKI:
    """Write a new CA, serving and admin certificates and the ServiceAccount keys."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = ClusterPKI(folder)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("meshconform-controlplane-ca", "meshconform")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca_cert, ca.public_bytes(serialization.Encoding.PEM), private=False)
    _write(pki.ca_key, _key_pem(ca_key), private=True)

    def leaf(
        common: str,
        organization: str | None,
        usage: x509.ObjectIdentifier,
        names: list[x509.GeneralName],
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common, organization))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _SKEW)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    ips = ["127.0.0.1", KUBERNETES_SERVICE_IP]
    serving, serving_key = leaf(
        "kube-apiserver",
        None,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips],
    )
    _write(pki.serving_cert, serving, private=False)
    _write(pki.serving_key, serving_key, private=True)
    admin, admin_key = leaf(
        "meshconform-admin", "system:masters", ExtendedKeyUsageOID.CLIENT_AUTH, []
    )
    _write(pki.admin_cert, admin, private=False)
    _write(pki.admin_key, admin_key, private=True)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki.sa_private, _key_pem(sa_key), private=True)
    _write(
        pki.sa_public,
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        private=False,
    )
    return pki


def kubeconfig_text(pki: ClusterPKI, server: str, name: str) -> str:
    """A kubeconfig for the admin identity that references the PEM files by path."""
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        f"current-context: {name}\n"
        "clusters:\n"
        f"- name: {name}\n"
        "  cluster:\n"
        f"    server: {server}\n"
        f"    certificate-authority: {pki.ca_cert}\n"
        "contexts:\n"
        f"- name: {name}\n"
        "  context:\n"
        f"    cluster: {name}\n"
        "    user: admin\n"
        "users:\n"
        "- name: admin\n"
        "  user:\n"
        f"    client-certificate: {pki.admin_cert}\n"
        f"    client-key: {pki.admin_key}\n"
    )
