"""A real 3-node MariaDB Galera cluster on loopback, and the tests that prove it."""
