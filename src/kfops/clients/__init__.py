"""The only layer that talks to Kubernetes, Prometheus and MariaDB; everything above sees Protocols."""
