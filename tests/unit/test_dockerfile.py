"""The Dockerfile, linted statically: there is no Docker engine here to build it.

A small parser (continuation lines joined, comments dropped, one instruction per entry) is
enough for the few rules that matter: a multi-stage build whose final stage is a non-root,
compiler-free runtime that runs `kfops serve`, has a health check and holds no secrets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|clang|make|build-essential|python3?-dev|libc6?-dev)\b")
SECRET_NAMES = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        loaded = json.loads(self.args)
        assert isinstance(loaded, list) and all(isinstance(a, str) for a in loaded), self.args
        return loaded


def parse(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(instructions: list[Instruction]) -> list[Instruction]:
    return stages(instructions)[-1]


def _all(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    parsed = parse("# c\nFROM a AS b\nRUN x \\\n  # inner\n  && y\nUSER 1\n")
    assert parsed == [Instruction("FROM", "a AS b"), Instruction("RUN", "x  && y"), Instruction("USER", "1")]


def test_multi_stage_from_one_digest_pinned_base(instructions: list[Instruction]) -> None:
    built = stages(instructions)
    assert len(built) >= 2
    assert built[0][0].args.endswith(" AS builder")
    # every stage builds FROM the one ARG, whose default is pinned by digest
    [base] = [i for i in instructions if i.keyword == "ARG" and i.args.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=\S*python:3\.\d+-slim\S*@sha256:[0-9a-f]{64}", base.args), base.args
    assert all(stage[0].args.split()[0] == "${PYTHON_IMAGE}" for stage in built)
    # the ARG comes before the first FROM, so FROM can use it
    assert instructions.index(base) < instructions.index(built[0][0])


def test_the_final_stage_runs_as_a_numeric_non_root_user(final: list[Instruction]) -> None:
    users = _all(final, "USER")
    assert users, "the final stage has no USER: it would run as root"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1].args
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1].args
    # nothing runs as root after the switch
    last_user = final.index(users[-1])
    assert not [i for i in final[last_user:] if i.keyword == "RUN"]


def test_the_final_stage_installs_no_build_tools(final: list[Instruction]) -> None:
    for run in _all(final, "RUN"):
        assert not re.search(
            r"\b(apt-get|apt|apk|yum|dnf)\b.*\binstall\b", run.args
        ) or not BUILD_TOOLS.search(run.args), run.args
        assert "pip install" not in run.args, "install in the builder; the final stage only copies the venv"
    assert any(i.keyword == "COPY" and "--from=builder" in i.args for i in final)


def test_the_entrypoint_is_kfops_serve_with_a_health_check(final: list[Instruction]) -> None:
    assert _all(final, "ENTRYPOINT")[-1].exec_form() == ["kfops"]
    assert _all(final, "CMD")[-1].exec_form() == ["serve"]
    [expose] = _all(final, "EXPOSE")
    assert expose.args == "8080"  # kfops serve --port's default (docs/chatops.md)
    [health] = _all(final, "HEALTHCHECK")
    options, _, command = health.args.partition("CMD ")
    probe = json.loads(command)
    assert probe[0] == "python", "no curl or wget in the image: the check uses Python's urllib"
    assert "urllib.request" in probe[-1] and "/readyz" in probe[-1]
    assert "--timeout=" in options


def test_no_secrets_in_the_image(instructions: list[Instruction]) -> None:
    for instruction in instructions:
        if instruction.keyword in {"ENV", "ARG"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", instruction.args) or [
                instruction.args.split()[0]
            ]
            assert not [n for n in names if SECRET_NAMES.search(n)], instruction
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"xox[abp]-|xapp-|-----BEGIN", text)


def test_oci_labels_name_the_license(final: list[Instruction]) -> None:
    labels = " ".join(i.args for i in _all(final, "LABEL"))
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels
    for key in ("title", "source", "version"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_the_state_dirs_are_writable_with_a_read_only_root(final: list[Instruction]) -> None:
    env = " ".join(i.args for i in _all(final, "ENV"))
    assert "HOME=/var/lib/kfops" in env
    assert "KFOPS_STATE_DIR=/var/lib/kfops/" in env and "KFOPS_AUDIT_PATH=/var/lib/kfops/" in env


def test_dockerignore_keeps_the_context_small_and_clean() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "bench/out"} <= entries
    # what the builder copies must not be ignored
    assert not {"src", "pyproject.toml", "README.md", "LICENSE"} & entries
