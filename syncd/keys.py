"""A node's private keys: Ed25519 for signing, X25519 for HPKE, kept 0600 in its home; and
the hybrid post-quantum key beside them (ML-KEM-768 + X25519 for HPKE's MLKEM768-X25519 KEM,
``keys/hybrid.pem``: the two parts, one PKCS#8 block each). A node made before the hybrid
key existed has none until ``xinbao-syncd keys hybrid`` makes one; it works on classic keys.

Keys are PKCS#8 PEM files, encrypted with a passphrase when one is given
(``XINBAO_KEY_PASSPHRASE``); they are written durably (temp file, fsync, rename).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from schema.error import reason
from syncd.error import KeyFileError

KEY_DIR = "keys"
SIGNING_FILE = "signing.pem"
ENCRYPTION_FILE = "encryption.pem"
HYBRID_FILE = "hybrid.pem"
PASSPHRASE_ENV = "XINBAO_KEY_PASSPHRASE"
MLKEM_PUBLIC_BYTES = 1184  # ML-KEM-768's encapsulation key
HYBRID_PUBLIC_BYTES = MLKEM_PUBLIC_BYTES + 32  # … then the X25519 part
_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----\n?", re.S)


@dataclass(frozen=True)
class HybridKey:
    """The hybrid post-quantum encryption key: ML-KEM-768 and an X25519 key of its own."""

    mlkem: mlkem.MLKEM768PrivateKey
    x25519: x25519.X25519PrivateKey

    @classmethod
    def generate(cls) -> HybridKey:
        return cls(mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate())

    @property
    def private(self) -> hpke.MLKEM768X25519PrivateKey:
        """The key as HPKE's MLKEM768-X25519 KEM takes it."""
        return hpke.MLKEM768X25519PrivateKey(self.mlkem, self.x25519)

    @property
    def public(self) -> bytes:
        """The raw public key: ML-KEM-768's (1,184 bytes), then X25519's (32)."""
        return self.mlkem.public_key().public_bytes_raw() + raw_public(self.x25519.public_key())


def hybrid_public_key(raw: bytes) -> hpke.MLKEM768X25519PublicKey:
    """A raw hybrid public key (:attr:`HybridKey.public`) for HPKE; ``ValueError`` if it is
    not one."""
    if len(raw) != HYBRID_PUBLIC_BYTES:
        raise ValueError(f"a hybrid public key is {HYBRID_PUBLIC_BYTES} bytes, not {len(raw)}")
    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM_PUBLIC_BYTES]),
        x25519.X25519PublicKey.from_public_bytes(raw[MLKEM_PUBLIC_BYTES:]),
    )


@dataclass(frozen=True)
class NodeKeys:
    """The private keys of a node."""

    signing: ed25519.Ed25519PrivateKey
    encryption: x25519.X25519PrivateKey
    hybrid: HybridKey | None = None  # None: a node from before hybrid keys

    @classmethod
    def generate(cls) -> NodeKeys:
        """Fresh keys, the hybrid one included."""
        return cls(
            ed25519.Ed25519PrivateKey.generate(),
            x25519.X25519PrivateKey.generate(),
            HybridKey.generate(),
        )

    @property
    def hybrid_public(self) -> bytes:
        """The raw hybrid public key (empty without one)."""
        return self.hybrid.public if self.hybrid is not None else b""

    @property
    def signing_public(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return raw_public(self.signing.public_key())

    @property
    def encryption_public(self) -> bytes:
        """The raw 32-byte X25519 public key."""
        return raw_public(self.encryption.public_key())


def raw_public(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    """A public key's raw bytes."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def passphrase_from_env() -> bytes | None:
    """The key passphrase from the environment, if set."""
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def save_keys(home: Path, keys: NodeKeys, passphrase: bytes | None) -> None:
    """Write both keys under ``home/keys`` with mode 0600."""
    folder = home / KEY_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    protection = _protection(passphrase)
    for name, key in ((SIGNING_FILE, keys.signing), (ENCRYPTION_FILE, keys.encryption)):
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
        )
        write_private(folder / name, pem)
    if keys.hybrid is not None:
        save_hybrid(home, keys.hybrid, passphrase)


def _protection(passphrase: bytes | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase)
    return serialization.NoEncryption()


def save_hybrid(home: Path, key: HybridKey, passphrase: bytes | None) -> None:
    """Write the hybrid key (its two parts, one PKCS#8 block each) with mode 0600."""
    folder = home / KEY_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    pkcs8 = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _protection(passphrase))
    pem = b"".join(part.private_bytes(*pkcs8) for part in (key.mlkem, key.x25519))
    write_private(folder / HYBRID_FILE, pem)


def load_keys(home: Path, passphrase: bytes | None) -> NodeKeys:
    """Read both keys; a wrong or missing passphrase is a clear error."""
    loaded = []
    for name in (SIGNING_FILE, ENCRYPTION_FILE):
        path = home / KEY_DIR / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"无法读取节点密钥 {path}：{reason(exc)}") from exc
        try:
            loaded.append(serialization.load_pem_private_key(data, password=passphrase))
        except TypeError as exc:
            raise KeyFileError(
                f"节点密钥 {name} 受口令保护，请设置环境变量 {PASSPHRASE_ENV}"
                if passphrase is None
                else f"节点密钥 {name} 未加密，不应提供口令"
            ) from exc
        except ValueError as exc:
            raise KeyFileError(f"节点密钥 {name} 口令错误或文件已损坏") from exc
    signing, encryption = loaded
    if not isinstance(signing, ed25519.Ed25519PrivateKey) or not isinstance(
        encryption, x25519.X25519PrivateKey
    ):
        raise KeyFileError("节点密钥类型不符（应为 Ed25519 与 X25519）")
    return NodeKeys(signing, encryption, _load_hybrid(home, passphrase))


def _load_hybrid(home: Path, passphrase: bytes | None) -> HybridKey | None:
    path = home / KEY_DIR / HYBRID_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None  # a node from before hybrid keys
    except OSError as exc:
        raise KeyFileError(f"无法读取节点密钥 {path}：{reason(exc)}") from exc
    blocks = _PEM_BLOCK.findall(data)
    try:
        parts = [serialization.load_pem_private_key(b, password=passphrase) for b in blocks]
    except (TypeError, ValueError) as exc:
        raise KeyFileError(f"节点密钥 {HYBRID_FILE} 口令错误或文件已损坏") from exc
    if (
        len(parts) != 2
        or not isinstance(parts[0], mlkem.MLKEM768PrivateKey)
        or not isinstance(parts[1], x25519.X25519PrivateKey)
    ):
        raise KeyFileError(f"节点密钥 {HYBRID_FILE} 类型不符（应为 ML-KEM-768 与 X25519）")
    return HybridKey(parts[0], parts[1])


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` durably with mode 0600 (temp file, fsync, rename, fsync dir)."""
    write_durably(path, data, mode=0o600)


def write_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_durably(source: Path, folder: Path) -> Path:
    """Copy ``source`` into ``folder`` under its own name (temp → fsync → rename → fsync dir),
    never half-written there. A file of that name and size already there is kept: bundle
    files are named by their content."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / source.name
    if final.is_file() and final.stat().st_size == source.stat().st_size:
        return final
    tmp = folder / f".{source.name}.part"
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(folder)
    return final
