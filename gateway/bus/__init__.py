"""Redis adapter: connection (or an embedded server), the dr_events outbox, power bus, caches."""
