"""The server's TLS certificate: a token is only worth something over TLS, and kubectl sends a kubeconfig's
token only over https (it drops credentials for plain http servers).

Without ``--tls-cert``/``--tls-key``, a server with a token makes its own: a self-signed certificate (its own
CA) for localhost, this host's name and addresses and the bound address, kept in the home directory (key
mode 0600) and reused while it covers those names and has 30 days left. ``pykatib kubeconfig`` puts it in
the kubeconfig as the cluster's ``certificate-authority-data``; pykatib's verbs read it from server.json.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pykatib.server.home import write_atomically

CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
VALID_DAYS = 365
RENEW_DAYS = 30


def server_names(host: str) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses a client may use to reach a server bound to ``host``."""
    names = {"localhost", socket.gethostname()}
    addresses = {"127.0.0.1", "::1"}
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        names.add(host)
    else:
        if ip.is_unspecified:  # 0.0.0.0 / :: : every address of this host
            with contextlib.suppress(OSError):
                addresses.update(socket.gethostbyname_ex(socket.gethostname())[2])
        else:
            addresses.add(str(ip))
    return sorted(names), sorted(addresses)


def self_signed(home: Path, host: str) -> tuple[Path, Path]:
    """The certificate and key files in ``home`` for ``host``, made (or made again) when needed."""
    cert_path, key_path = home / CERT_FILE, home / KEY_FILE
    names, addresses = server_names(host)
    if _usable(cert_path, key_path, names, addresses):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pykatib server")])
    now = datetime.now(UTC)
    alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomically(key_path, key_bytes, 0o600)
    write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def _usable(cert_path: Path, key_path: Path, names: list[str], addresses: list[str]) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if not key_path.is_file():
            return False
        alternatives = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    covered_names = set(alternatives.get_values_for_type(x509.DNSName))
    covered_addresses = {str(a) for a in alternatives.get_values_for_type(x509.IPAddress)}
    fresh = certificate.not_valid_after_utc - datetime.now(UTC) > timedelta(days=RENEW_DAYS)
    return fresh and set(names) <= covered_names and set(addresses) <= covered_addresses
