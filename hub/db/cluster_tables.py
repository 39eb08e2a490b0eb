"""The tables several hub nodes share on PostgreSQL (docs/scaling.md).

- `dispatcher_lease`: one row, the fenced lease of the node that runs the job engine (the
  dispatcher). Taking it over increments the epoch; every write of the engine checks it.
- `hub_nodes`: the nodes that are up, for `/healthz` and to refuse local storage shared by
  several nodes.
- `hub_commands`: what other nodes ask of the dispatcher (adopt new jobs, cancel, retry a
  job or a batch run, end a deleted plugin's jobs, close a plugin's connections). Applied
  and deleted in the dispatcher's fenced transactions, so each is applied once, whoever is
  dispatcher then.
- `live_processes`: the plugin processes connected to the dispatcher, so that every node
  can answer "is it live, and where" without a socket of its own.
- `shared_keys`: the signing key of job tokens and CSRF tokens when HUB_SECRET_KEY is not
  set: made by the first node, read by every other, so that nothing but the database URL
  and the storage URL has to be shared by hand.

A single hub on SQLite has the tables too (one schema everywhere) but never uses them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.tables import Base, utcnow


class DispatcherLease(Base):
    __tablename__ = "dispatcher_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(64))
    """The node id of the dispatcher."""
    expires_at: Mapped[datetime]


class HubNode(Base):
    __tablename__ = "hub_nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    storage: Mapped[str] = mapped_column(String(600), default="")
    """"s3", or "local:<host>:<directory>": local storage cannot be shared by several
    nodes (the same directory on the same host is one node restarted)."""


class HubCommand(Base):
    __tablename__ = "hub_commands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LiveProcess(Base):
    __tablename__ = "live_processes"

    connection_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    plugin_id: Mapped[str] = mapped_column(String(32), index=True)
    node_id: Mapped[str] = mapped_column(String(64))
    sdk_version: Mapped[str] = mapped_column(String(200))
    plugin_version: Mapped[str] = mapped_column(String(200))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0)
    connected_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime]


class SharedKey(Base):
    __tablename__ = "shared_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
