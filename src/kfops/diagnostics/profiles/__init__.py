"""The Kubeflow Profile controller, its CRDs, the Profiles and what it reconciles (domain.md §4)."""
