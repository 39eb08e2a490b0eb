"""Seams for testing a plugin without a hub: the SDK takes its network as a `Transport`.

`serve(plugin, transport=...)` runs a plugin against any object with `connect()` returning
a `Channel`; a test can play the hub over in-memory queues (see tests/sdk/fakehub.py).
"""

from ango_plugins_sdk._transport import Channel, ChannelClosed, HandshakeRejected, Transport

__all__ = ["Channel", "ChannelClosed", "HandshakeRejected", "Transport"]
