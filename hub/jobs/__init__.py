"""The job engine: queues, leases, group commits, dispatch. See docs/delivery.md."""
