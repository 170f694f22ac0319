"""Pure values shared by every layer: no I/O, no rendering."""

from kfops.model.diagnosis import Conclusion, Diagnosis, ProbeStats
from kfops.model.evidence import JSON, Evidence, Observed
from kfops.model.finding import Finding, fingerprint
from kfops.model.ladder import (
    Branch,
    Cause,
    Facts,
    Findings,
    Ladder,
    Probe,
    ProposalInput,
    Rung,
)
from kfops.model.proposal import Proposal
from kfops.model.status import Mode, Risk, Source, Status, Verdict

__all__ = [
    "JSON",
    "Branch",
    "Cause",
    "Conclusion",
    "Diagnosis",
    "Evidence",
    "Facts",
    "Finding",
    "Findings",
    "Ladder",
    "Mode",
    "Observed",
    "Probe",
    "ProbeStats",
    "Proposal",
    "ProposalInput",
    "Risk",
    "Rung",
    "Source",
    "Status",
    "Verdict",
    "fingerprint",
]
