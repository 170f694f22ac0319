"""Small helpers that keep findings readable at 3 a.m.: counts with their nouns in the right number."""

from __future__ import annotations


def counted(n: int, noun: str, many: str | None = None) -> str:
    """ "1 pod", "2 pods", "3 Profiles": a count with its noun in the right number (`many`: an
    irregular plural, e.g. counted(n, "copy", "copies"))."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"
