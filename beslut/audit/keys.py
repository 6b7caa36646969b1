"""Ed25519 keys for signing checkpoints: make a pair, load either half, name a key by its id.

Files are PEM: the private key PKCS #8 (unencrypted; the file is created with mode
0600 and refused when others can read it), the public key SubjectPublicKeyInfo. A
key's id is the SHA-256 (hex) of its 32 raw public-key bytes, so anyone holding the
public key can compute it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from beslut.errors import InvalidInput

MAX_KEY_FILE: Final = 16_384


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the 32 raw bytes of *public_key*."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate(private_path: Path, public_path: Path) -> str:
    """Write a new key pair to the two paths (neither may exist); return the key id.

    Raises:
        InvalidInput: a path exists, is the same as the other, or cannot be written.
    """
    if private_path.resolve() == public_path.resolve():
        raise InvalidInput("--out-private and --out-public must be two different files")
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise InvalidInput(f"{path} already exists: a key is never overwritten")
        if not path.parent.is_dir():
            raise InvalidInput(f"directory {path.parent} does not exist")
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except InvalidInput:
        private_path.unlink()
        raise
    return key_id(private_key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file *path*.

    Raises:
        InvalidInput: unreadable, readable by others, or not an Ed25519 private key.
    """
    data = _read(path, "private key")
    if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
        raise InvalidInput(f"{path} holds a public key: signing needs the private key")
    if os.name == "posix":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidInput(
                f"private key {path} is accessible to others (mode {stat.S_IMODE(mode):04o}): chmod 600 it"
            )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise InvalidInput(f"{path} is not a PEM private key without a passphrase: {_first_line(error)}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} is not an Ed25519 key (it is {type(key).__name__})")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file *path*.

    Raises:
        InvalidInput: unreadable, a private key, or not an Ed25519 public key.
    """
    return parse_public(_read(path, "public key"), str(path))


def parse_public(data: bytes, source: str) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM text *data* (from *source*: a file, or an HTTP request's body).

    Raises:
        InvalidInput: too large, a private key, or not an Ed25519 public key.
    """
    if len(data) > MAX_KEY_FILE:
        raise InvalidInput(f"public key {source} is too large to be a key")
    if b"PRIVATE KEY" in data:
        raise InvalidInput(f"{source} holds a private key: give the public key (keep the private one to yourself)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise InvalidInput(f"{source} is not a PEM public key: {_first_line(error)}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{source} is not an Ed25519 public key (it is {type(key).__name__})")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise InvalidInput(f"{what} {path} is too large to be a key")
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {what} {path}: {error.strerror or error}") from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as error:
        raise InvalidInput(f"cannot create {path}: {error.strerror or error}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have taken bits off; never added any


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
