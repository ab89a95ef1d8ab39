"""The workflow tier's `${{ }}` evaluator: GitHub's semantics for what the workflows use, and a
clear error for anything else (never a guess)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.workflows.expressions import (
    Context,
    ExpressionError,
    Sparse,
    evaluate,
    evaluate_if,
    hash_files,
    substitute,
)


def ctx(tmp_path: Path, failed: bool = False, **extra: Any) -> Context:
    contexts = {
        "github": {
            "event_name": "push",
            "ref": "refs/heads/main",
            "repository": "acme/fyntrix",
            "event": {"pull_request": {"head": {"repo": {"full_name": "acme/fyntrix"}}}},
        },
        "vars": {"AWS_REGION": "us-east-1"},
        "steps": {"tag": {"outputs": Sparse(image_tag="abc123")}},
        "env": {"NAME": "x"},
        **extra,
    }
    return Context(contexts, tmp_path, job_failed=failed)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("github.event_name == 'push'", True),
        ("github.event_name == 'PUSH'", True),  # string comparison ignores case
        ("github.event_name != 'push'", False),
        ("github.event_name == 'push' && 'deploy' || format('diff-{0}', github.ref)", "deploy"),
        (
            "github.event_name == 'pr' && 'deploy' || format('diff-{0}', github.ref)",
            "diff-refs/heads/main",
        ),
        ("github['repository']", "acme/fyntrix"),
        ("github.event.pull_request.head.repo.full_name == github.repository", True),
        ("steps.tag.outputs.image_tag", "abc123"),
        ("steps.tag.outputs.unset", None),  # an output the step did not set is ''
        ("!(1 < 2) || 'it''s'", "it's"),
        ("startsWith(github.ref, 'refs/heads/') && contains('abc', 'B')", True),
        ("format('{0}-{{1}}', 7)", "7-{1}"),
    ],
)
def test_what_the_workflows_use_evaluates_as_on_github(
    tmp_path: Path, expression: str, value: object
) -> None:
    assert evaluate(expression, ctx(tmp_path)) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("vars.PROD_CERTIFICATE_ARN", "vars.PROD_CERTIFICATE_ARN is not set"),
        ("matrix.os", "unknown context 'matrix'"),
        ("github.event.push.head", "github.event.push is not set"),
        ("fromYAML('a')", "unknown function fromYAML()"),
        ("github.ref - 1", "cannot read"),
        ("github.event_name == 1", "types differ"),
        ("(github.ref", "unexpected end"),
    ],
)
def test_anything_else_fails_naming_it(tmp_path: Path, expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(expression, ctx(tmp_path))


def test_a_false_left_side_never_reads_the_right(tmp_path: Path) -> None:
    # GitHub short-circuits: the pull-request payload is not read on a push.
    assert (
        evaluate("github.event_name == 'pr' && github.event.nothing.here", ctx(tmp_path)) is False
    )


def test_if_adds_success_unless_it_names_a_status_function(tmp_path: Path) -> None:
    assert evaluate_if(None, ctx(tmp_path)) is True
    assert evaluate_if(None, ctx(tmp_path, failed=True)) is False
    assert evaluate_if("github.event_name == 'push'", ctx(tmp_path, failed=True)) is False
    assert evaluate_if("${{ always() }}", ctx(tmp_path, failed=True)) is True
    assert evaluate_if("failure()", ctx(tmp_path, failed=True)) is True


def test_substitute_writes_values_as_github_does(tmp_path: Path) -> None:
    text = "tag=${{ steps.tag.outputs.image_tag }} ok=${{ 1 < 2 }} none=${{ null }}."
    assert substitute(text, ctx(tmp_path)) == "tag=abc123 ok=true none=."


def test_hash_files_hashes_matching_files_and_is_empty_for_none(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("a==1\n")
    first = hash_files(tmp_path, ["requirements.txt"])
    assert len(first) == 64
    (tmp_path / "requirements.txt").write_text("a==2\n")
    assert hash_files(tmp_path, ["requirements.txt"]) not in ("", first)
    assert hash_files(tmp_path, ["nothing-*.txt"]) == ""
