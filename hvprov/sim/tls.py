"""Certificates for the lab's HTTPS listeners: a self-signed CA and a server certificate.

`make_tls_files(directory)` writes ``ca.pem`` (give it to clients as
``ansible_winrm_ca_trust_path``), ``server.pem`` and ``server.key`` (the listener's chain and
key). The server certificate is valid for ``localhost`` and ``127.0.0.1`` (and any extra names
given), signed by the CA, like a certificate from an enterprise CA on a real WinRM HTTPS
listener. EC P-256 keys keep generation fast enough for test fixtures.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "make_tls_files", "server_context"]


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path  # PEM, the trust anchor clients need
    server_cert: Path  # PEM, server certificate followed by the CA certificate
    server_key: Path  # PEM, unencrypted PKCS#8 key of the server certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hvprov lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def make_tls_files(
    directory: Path,
    names: Iterable[str] = ("localhost", "127.0.0.1"),
    *,
    ca_name: str = "hvprov lab CA",
    days: int = 30,
) -> TlsFiles:
    """Generate a CA and a server certificate for `names`; write the PEM files to `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = list(names)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
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
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    files.server_key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.server_key.chmod(0o600)
    return files


_TLS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def server_context(files: TlsFiles, versions: tuple[str, ...] = ("1.2",)) -> ssl.SSLContext:
    """A server-side TLS context for a listener using `files`, offering only `versions`
    (SChannel per Windows release: 1.0 on 2008 R2 unless TLS 1.2 is enabled, 1.2 on
    2012 R2-2019, 1.2 and 1.3 on 2022)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    wanted = sorted(_TLS[v] for v in versions)
    if wanted[0] < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at level >= 1
    with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1; the lab models hosts that still offer them
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version, ctx.maximum_version = wanted[0], wanted[-1]
    ctx.load_cert_chain(str(files.server_cert), str(files.server_key))
    return ctx
