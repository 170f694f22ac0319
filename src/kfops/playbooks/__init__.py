"""Gated remediations: nothing in kfops writes to a cluster except a playbook run through the gate.

plan (exact API calls, server-side dry-run, hashed) → authorise (SelfSubjectAccessReview) →
approve (bound to the plan hash, expiring; two distinct people for high risk, neither the
requester) → re-check → execute once under a Lease → verify → audit (hash-chained log + Event).
"""
