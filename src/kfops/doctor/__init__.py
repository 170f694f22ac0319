"""`kfops doctor`: is this deployment able to do its job? Checks as plain functions returning rows.

Read-only: it asks the API server what kfops may do (SelfSubjectAccessReview, a `create` on
authorization.k8s.io that changes no state), reads one fixed thing from each source, and looks at
settings. It never plans, dry-runs or executes a playbook: playbooks are imported only for their
`writes` metadata.
"""

from kfops.doctor.rows import Level, Row, exit_code

__all__ = ["Level", "Row", "exit_code"]
