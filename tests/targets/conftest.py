"""Shared fixtures: the committed target files, the generator's output, the Render schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.validate import load_render_schema

ROOT = Path(__file__).resolve().parents[2]


def committed(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


def load_yaml(rel: str) -> Any:
    return yaml.safe_load(committed(rel))


def load_json(rel: str) -> Any:
    return json.loads(committed(rel))


@pytest.fixture(scope="session")
def render_schema() -> dict[str, Any]:
    # Not a skip: `make setup` caches it (generators/render_schema.py), and without it render.yaml
    # would be checked by the doc rules alone.
    return load_render_schema()


@pytest.fixture
def blueprint() -> Any:
    return load_yaml("render.yaml")


@pytest.fixture
def compose_doc() -> Any:
    return load_yaml("docker-compose.yml")


@pytest.fixture
def task_def() -> Any:
    return load_json("ecs-task-definition.json")


def mutated(doc: Any, change: Any) -> Any:
    """A deep copy of `doc` after `change(copy)`; the fixture's document stays intact."""
    broken = copy.deepcopy(doc)
    change(broken)
    return broken
