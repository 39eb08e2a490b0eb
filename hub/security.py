"""Identifiers, secrets and hashes.

Plugin secrets and API keys are 256 random bits, so one SHA-256 pass is enough to
store them: no guessing attack can reach them, and a slow KDF would only slow every
handshake. Passwords are chosen by people, so they get scrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time

SECRET_PREFIX = "phs_"  # noqa: S105 (a prefix that secret scanners can match, not a secret)
API_KEY_PREFIX = "phk_"
_SECRET_BYTES = 32  # 256 bits

# scrypt parameters: n=2**14, r=8 is the interactive-login setting from the scrypt paper.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN = 2**14, 8, 1, 32


class _RandomPool:
    """Bytes from `os.urandom` (the same source `secrets` reads), fetched 4 KiB at a time:
    a submit of 1,000 jobs made 1,000 system calls for their ids otherwise."""

    _FETCH = 4096

    def __init__(self) -> None:
        self._bytes = b""
        self._used = 0
        self._lock = threading.Lock()  # no two callers may ever get the same bytes

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._used + count > len(self._bytes):
                self._bytes, self._used = os.urandom(self._FETCH), 0
            taken = self._bytes[self._used : self._used + count]
            self._used += count
            return taken

    def forget(self) -> None:
        """In a forked child: new bytes, and a new lock (a thread of the parent may have
        held the old one at the fork, and it would stay held here forever)."""
        self._bytes, self._used = b"", 0
        self._lock = threading.Lock()


_random = _RandomPool()
# A forked child must not hand out the bytes its parent still holds.
os.register_at_fork(after_in_child=_random.forget)


def new_id() -> str:
    """A 24-hex-digit id that sorts by creation time (48-bit ms clock + 48 random bits)."""
    return f"{int(time.time() * 1000):012x}{_random.take(6).hex()}"


def new_plugin_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a high-entropy secret (plugin secret, API key)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time check of a presented secret against its stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt)
    return "scrypt${}${}".format(
        base64.b64encode(salt).decode("ascii"), base64.b64encode(digest).decode("ascii")
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest_b64)
    return hmac.compare_digest(_scrypt(password, base64.b64decode(salt_b64)), expected)


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_SCRYPT_LEN,
        maxmem=64 * 1024 * 1024,
    )
