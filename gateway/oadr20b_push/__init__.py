"""OpenADR 2.0b push: the VTN's messages POSTed to push-mode VENs from a persisted outbox,
beside the pull VTN (``gateway.oadr20b``), whose rendering and handlers it reuses."""
