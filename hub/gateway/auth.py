"""Reading plugin credentials from the handshake's Authorization header."""

from __future__ import annotations

import base64
import binascii


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """(plugin_id, secret) from `Basic base64(id:secret)`, or None if malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    plugin_id, sep, secret = decoded.partition(":")
    if not sep or not plugin_id or not secret:
        return None
    return plugin_id, secret
