"""A self-signed certificate and key for a first run with TLS (``vncd cert DIR``).

Made with the cryptography package when it is installed, else with the openssl command.
The key is written with mode 0600, and neither file overwrites an existing one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

CERTIFICATE_NAME = "cert.pem"
KEY_NAME = "key.pem"
VALID_DAYS = 365


def write_self_signed(directory: Path, names: Sequence[str]) -> tuple[Path, Path]:
    """Write ``cert.pem`` (for ``names``: host names or IP addresses; the first is the
    subject) and ``key.pem`` into ``directory``. OSError (FileExistsError for an existing
    file) or RuntimeError when neither cryptography nor openssl is there."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / CERTIFICATE_NAME, directory / KEY_NAME
    for path in (certificate, key):
        if path.exists():
            raise FileExistsError(f"{path} exists; remove it or choose another directory")
    try:
        certificate_pem, key_pem = _with_cryptography(names)
    except ImportError:
        certificate_pem, key_pem = _with_openssl(names)
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key_pem)
    certificate.write_bytes(certificate_pem)
    return certificate, key


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _with_cryptography(names: Sequence[str]) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alternative: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(name)) if _is_address(name) else x509.DNSName(name)
        for name in names
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _with_openssl(names: Sequence[str]) -> tuple[bytes, bytes]:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("needs the cryptography package or the openssl command")
    alternative = ",".join(f"{'IP' if _is_address(name) else 'DNS'}:{name}" for name in names)
    # Both outputs go to standard output (no key file with a loose mode in between).
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    command += ["-nodes", "-days", str(VALID_DAYS), "-subj", f"/CN={names[0]}"]
    command += ["-addext", f"subjectAltName={alternative}", "-keyout", "/dev/stdout"]
    output = subprocess.run(command, check=True, capture_output=True).stdout
    key_end = output.index(b"-----END PRIVATE KEY-----\n") + len(b"-----END PRIVATE KEY-----\n")
    return output[key_end:], output[:key_end]
