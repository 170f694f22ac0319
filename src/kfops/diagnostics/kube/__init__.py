"""Probes of core Kubernetes objects: nodes, pods, events, leases."""
