"""The `kfops` command line."""
