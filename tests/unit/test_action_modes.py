"""settings.action_modes: an action's own entry, else "*", else the playbook's default."""

from __future__ import annotations

import pytest

from kfops.playbooks.gate import policy_mode
from kfops.playbooks.registry import PLAYBOOKS
from kfops.settings import Settings


def _mode(modes: str, action: str) -> str:
    return policy_mode(Settings(action_modes=modes), PLAYBOOKS[action])


def test_without_overrides_each_playbook_keeps_its_default() -> None:
    assert {a: _mode("", a) for a in PLAYBOOKS} == {a: p.mode.value for a, p in PLAYBOOKS.items()}


def test_star_sets_every_action_and_a_named_entry_wins_over_it() -> None:
    modes = "*=manual, node.cordon=approve"
    assert _mode(modes, "node.cordon") == "approve"
    assert {_mode(modes, a) for a in PLAYBOOKS if a != "node.cordon"} == {"manual"}


@pytest.mark.parametrize("order", ["node.drain=disabled,*=manual", "*=manual,node.drain=disabled"])
def test_the_order_of_entries_does_not_matter(order: str) -> None:
    assert _mode(order, "node.drain") == "disabled"
    assert _mode(order, "pod.delete") == "manual"
