import pytest

from kfops.clients.selectors import SelectorError, field_terms, field_value_matches, label_matcher

LABELS = {"app": "nvidia-driver-daemonset", "tier": "gpu", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, True),
        ("", True),
        ("app=nvidia-driver-daemonset", True),
        ("app==nvidia-driver-daemonset", True),
        ("app!=nvidia-driver-daemonset", False),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app in (a, nvidia-driver-daemonset)", True),
        ("app notin (a, nvidia-driver-daemonset)", False),
        ("app in (a,b),tier=gpu", False),
        ("env=prod,tier=gpu,app in (x,nvidia-driver-daemonset)", True),
        ("missing notin (a)", True),
    ],
)
def test_label_selectors_match_like_the_api_server(selector: str | None, expected: bool) -> None:
    assert label_matcher(selector)(LABELS) is expected


def test_malformed_selectors_are_refused_with_the_term() -> None:
    with pytest.raises(SelectorError, match="a=b=c"):
        label_matcher("a=b=c")
    with pytest.raises(SelectorError, match=r"spec\.nodeName"):
        field_terms("spec.nodeName")


def test_field_selector_terms_compare_string_forms() -> None:
    assert field_terms("spec.nodeName=gpu-1,status.phase!=Failed") == [
        ("spec.nodeName", True, "gpu-1"),
        ("status.phase", False, "Failed"),
    ]
    assert field_value_matches(None, True, "")  # a missing field equals ""
    assert not field_value_matches("Running", False, "Running")
    assert field_value_matches(3, True, "3")
