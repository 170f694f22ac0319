"""A real Prometheus (the distribution's binary) and settable exporters on loopback, for tests."""
