"""KServe InferenceServices and the Knative / Kubernetes objects that serve them (domain.md §3)."""
