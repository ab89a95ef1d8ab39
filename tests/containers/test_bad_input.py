"""Bad input to the container tooling: each is one line that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.containers.engine import Engine, EngineError, ensure_engine
from tools.containers.images import APP, BuildError, Built, build_one, resolve_base


def test_dead_docker_host_is_one_clear_line(tmp_path: Path) -> None:
    dead = f"unix://{tmp_path / 'nothing.sock'}"
    with pytest.raises(EngineError) as err:
        ensure_engine(tmp_path, {"DOCKER_HOST": dead})
    message = str(err.value)
    assert "\n" not in message
    assert f"DOCKER_HOST={dead} does not answer" in message
    assert "unset DOCKER_HOST" in message


@pytest.mark.containers
def test_unpullable_base_argument_is_one_clear_line(docker_engine: Engine) -> None:
    wanted = r"^PYTHON_IMAGE=fyntrix-missing/python:0 cannot be pulled"
    with pytest.raises(BuildError, match=wanted):
        resolve_base(docker_engine.client, APP, {"PYTHON_IMAGE": "fyntrix-missing/python:0"}, print)


@pytest.mark.containers
def test_failed_build_names_the_image_and_the_step(
    docker_engine: Engine, container_images: dict[str, Built]
) -> None:
    # The Redis base has no python: service/Dockerfile's venv step fails.
    with pytest.raises(BuildError) as err:
        build_one(docker_engine.client, APP, container_images["redis"].base, "given")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("building fyntrix-app:local from service/Dockerfile failed")
    assert "rerun `make images`" in message
