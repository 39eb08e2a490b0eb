"""CSRF tokens for the dashboard's forms.

A token is an HMAC of a per-browser seed under the hub's key: the session token once
signed in, an anonymous cookie before (so the sign-in form is covered too). An attacker
page can neither read the seed (an HttpOnly cookie) nor compute the HMAC, and SameSite
cookies are a second wall. Nothing is stored: any page can mint the token again.
"""

from __future__ import annotations

import hashlib
import hmac


class CsrfTokens:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"plugin-hub csrf|" + key).digest()

    def token_for(self, seed: str) -> str:
        return hmac.new(self._key, seed.encode("utf-8"), hashlib.sha256).hexdigest()

    def is_valid(self, seed: str, presented: str | None) -> bool:
        if not (seed and presented):
            return False
        # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        return hmac.compare_digest(
            self.token_for(seed).encode(), presented.encode("utf-8", "replace")
        )
