"""Read-only probes of Kubeflow's own components (pipelines, metadata, profiles, serving)."""
