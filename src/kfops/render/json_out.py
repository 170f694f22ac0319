"""Diagnosis → JSON text."""

from __future__ import annotations

import json

from kfops.model import Diagnosis
from kfops.render.document import documents


def render_json(diagnoses: list[Diagnosis]) -> str:
    return json.dumps(documents(diagnoses), indent=2, sort_keys=False)
