"""The certification tests' gateways (one per module; ``tls_gateway`` with mutual TLS)."""

from tests.oadr20b.cert.conftest import gateway, tls_gateway

__all__ = ["gateway", "tls_gateway"]
