"""Several hub nodes on one PostgreSQL database (docs/scaling.md).

`node.ClusterNode` decides this node's role under the fenced dispatcher lease
(`lease.Lease`); `commands.Dispatcher` carries the services' job changes to the
dispatcher; `presence` shows every node the dispatcher's plugin processes; `notify`
wakes nodes with LISTEN/NOTIFY. A single hub on SQLite uses none of it.
"""
