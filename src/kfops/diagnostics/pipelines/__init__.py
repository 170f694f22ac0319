"""Kubeflow Pipelines runs: their Argo Workflows, step pods, backend and storage."""
