"""Security helpers: certificates and keys for OpenADR over mutual TLS."""
