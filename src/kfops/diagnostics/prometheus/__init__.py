"""Probes over Prometheus: GPU health from dcgm-exporter, node history from kube-state-metrics."""
