"""kfops — Day-2 runbook automation for Kubeflow on-call engineers."""

__version__ = "0.1.0"
