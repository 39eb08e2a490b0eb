"""Job-scoped credentials for the job's HTTP data paths (export stream, uploads, CSV).

A token names one attempt of one job and is signed with the hub's key (HMAC-SHA256).
It is accepted only while that attempt is the job's current running attempt, so it dies
with the attempt; the expiry is a backstop. A plugin never holds a user's API key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from hub.private_files import private_file

TOKEN_TTL = 24 * 3600.0


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class JobGrant:
    job_id: str
    attempt: int


def load_or_create_key(data_dir: Path, configured: str = "") -> bytes:
    """The signing key: HUB_SECRET_KEY when set (several hubs must share it), else a
    random key kept in the data dir, readable by the hub's user only."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / "secret_key"
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        return key
    private_file(path)  # a key another user can read signs any job token they like
    return key


class JobTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def use_key(self, key: bytes) -> None:
        """Sign and check with `key` from now on (the key several nodes share, read from the
        database at start-up, before any token is issued)."""
        self._key = key

    def issue(self, job_id: str, attempt: int, *, ttl: float = TOKEN_TTL) -> str:
        payload = _b64(
            json.dumps({"j": job_id, "a": attempt, "e": int(time.time() + ttl)}).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str) -> JobGrant:
        payload, _, signature = token.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidToken("invalid job token")
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            grant = JobGrant(str(claims["j"]), int(claims["a"]))
            expires = float(claims["e"])
        except (ValueError, KeyError, TypeError):
            raise InvalidToken("invalid job token") from None
        if expires < time.time():
            raise InvalidToken("job token expired")
        return grant

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
