"""oadr-gateway: an OpenADR 2.0b demand-response gateway."""

__version__ = "0.1.0"
