"""docs/runbooks/<ladder>.md must be what the ladder generates: the page cannot drift from the code."""

from pathlib import Path

import pytest

from kfops.runbooks.explain import explain_ladder
from kfops.runbooks.registry import ladders

DOCS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"


@pytest.mark.parametrize("ladder", ladders(), ids=lambda ladder: ladder.id)
def test_runbook_page_is_generated_from_the_ladder(ladder) -> None:  # type: ignore[no-untyped-def]
    page = DOCS / f"{ladder.id}.md"
    assert page.exists(), f"missing {page}: run `make docs`"
    assert page.read_text(encoding="utf-8") == explain_ladder(ladder), "stale page: run `make docs`"
    for heading in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
        assert heading in page.read_text(encoding="utf-8")
