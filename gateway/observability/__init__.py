"""Running the gateway like a service: Prometheus metrics, structured logs, the API docs page."""
