"""Read-only probes, grouped by system. Nothing here writes, and nothing here may import a writer."""
