"""Use cases: each service turns a request into domain decisions, stored and announced."""
