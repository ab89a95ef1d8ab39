"""`make setup`'s Render schema step: fetched over real HTTP (a local server), pinned by sha256,
with RENDER_SCHEMA_FILE and then the copy beside the clone as the offline fallbacks, in order."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from generators.render_schema import (
    ENV_VAR,
    PINNED_RULES_SHA256,
    PINNED_SHA256,
    SHARED_FALLBACK,
    SchemaError,
    cache_path,
    ensure,
    load_cached,
    rules_sha256,
    verify,
)
from testkit.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pinned() -> bytes:
    """The pinned schema, from the repository's cache (the only copy tests may read)."""
    return cache_path(ROOT).read_bytes()


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A clone with nothing cached, and where its offline fallback beside it would be."""
    root = tmp_path / "clone"
    root.mkdir()
    return {"root": root, "fallback": (root / SHARED_FALLBACK).resolve()}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a folder: (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/render.yaml.json"


def changed_rule(data: bytes) -> bytes:
    schema = json.loads(data)
    schema["definitions"]["diskSizeGB"]["minimum"] = 2
    return json.dumps(schema).encode()


def annotated(data: bytes) -> bytes:
    """The same rules with the annotations Render's published file may carry."""
    schema: dict[str, Any] = json.loads(data)
    schema["title"] = "Render Blueprint"
    for name, definition in schema["definitions"].items():
        definition["description"] = f"the {name} setting"
        for prop in definition.get("properties", {}).values():
            prop["markdownDescription"] = "*documented*"
    return json.dumps(schema, indent=2).encode()


# ------------------------------------------------------------------------------ the pin


def test_the_cached_copy_is_the_pinned_file(pinned: bytes) -> None:
    assert hashlib.sha256(pinned).hexdigest() == PINNED_SHA256
    assert "serverService" in load_cached(ROOT)["definitions"]


def test_a_changed_rule_is_rejected_naming_the_source_and_the_fix(pinned: bytes) -> None:
    with pytest.raises(SchemaError) as caught:
        verify(changed_rule(pinned), "https://example.test/schema")
    message = str(caught.value)
    assert message.startswith("https://example.test/schema has sha256 ")
    assert PINNED_SHA256 in message
    assert "update the pins in generators/render_schema.py" in message
    assert "\n" not in message


def test_a_file_that_is_not_json_is_rejected() -> None:
    with pytest.raises(SchemaError, match=r"x\.json is not JSON"):
        verify(b"<html>sign in</html>", "x.json")


def test_annotations_alone_do_not_change_the_pin(pinned: bytes) -> None:
    # Render's published file may carry descriptions the reviewed copy lacks.
    assert verify(annotated(pinned), "published")["definitions"]
    # A property *named* like an annotation is a rule, not an annotation.
    schema = json.loads(pinned)
    assert rules_sha256(schema) == PINNED_RULES_SHA256
    schema["definitions"]["buildFilter"]["properties"]["title"] = {"type": "string"}
    assert rules_sha256(schema) != PINNED_RULES_SHA256


def test_a_damaged_cache_is_caught_when_read(layout: dict[str, Path], pinned: bytes) -> None:
    cache = cache_path(layout["root"])
    cache.parent.mkdir(parents=True)
    cache.write_bytes(changed_rule(pinned))
    with pytest.raises(SchemaError, match="has sha256"):
        load_cached(layout["root"])


def test_a_missing_cache_says_to_run_setup(layout: dict[str, Path]) -> None:
    with pytest.raises(SchemaError, match=r"run `make setup`"):
        load_cached(layout["root"])


# ------------------------------------------------------------------------------ the sources


def test_fetches_over_http_into_the_cache(
    layout: dict[str, Path], web: tuple[str, Path], pinned: bytes
) -> None:
    base, folder = web
    (folder / "render.yaml.json").write_bytes(annotated(pinned))
    # GIVEN a fallback file too: the published URL comes first
    layout["fallback"].parent.mkdir(parents=True)
    layout["fallback"].write_bytes(pinned)
    got = ensure(layout["root"], url=f"{base}/render.yaml.json", env={})
    assert got.origin == f"{base}/render.yaml.json"
    assert got.path.read_bytes() == annotated(pinned)
    # AND a second run keeps the verified cache without asking anyone
    assert ensure(layout["root"], url=closed_url(), env={}).origin == "cache"


def test_offline_takes_the_env_file_before_the_one_beside_the_clone(
    layout: dict[str, Path], tmp_path: Path, pinned: bytes
) -> None:
    named = tmp_path / "mine.json"
    named.write_bytes(pinned)
    layout["fallback"].parent.mkdir(parents=True)
    layout["fallback"].write_bytes(annotated(pinned))
    got = ensure(layout["root"], url=closed_url(), env={ENV_VAR: str(named)})
    assert got.origin == f"{ENV_VAR}={named}"
    assert got.path.read_bytes() == pinned
    assert "unreachable" in got.passed_over[0]


def test_offline_without_env_takes_the_file_beside_the_clone(
    layout: dict[str, Path], pinned: bytes
) -> None:
    layout["fallback"].parent.mkdir(parents=True)
    layout["fallback"].write_bytes(pinned)
    got = ensure(layout["root"], url=closed_url(), env={})
    assert got.origin == str(SHARED_FALLBACK)
    assert cache_path(layout["root"]).read_bytes() == pinned


def test_a_wrong_file_is_passed_over_for_the_next_source(
    layout: dict[str, Path], web: tuple[str, Path], tmp_path: Path, pinned: bytes
) -> None:
    # GIVEN Render serving changed rules and RENDER_SCHEMA_FILE naming the reviewed copy
    base, folder = web
    (folder / "render.yaml.json").write_bytes(changed_rule(pinned))
    named = tmp_path / "reviewed.json"
    named.write_bytes(pinned)
    got = ensure(layout["root"], url=f"{base}/render.yaml.json", env={ENV_VAR: str(named)})
    # THEN the reviewed copy is cached and the changed one is reported, not used
    assert got.origin == f"{ENV_VAR}={named}"
    assert "has sha256" in got.passed_over[0]
    assert cache_path(layout["root"]).read_bytes() == pinned


def test_a_stale_cache_is_replaced(
    layout: dict[str, Path], web: tuple[str, Path], pinned: bytes
) -> None:
    base, folder = web
    (folder / "render.yaml.json").write_bytes(pinned)
    cache = cache_path(layout["root"])
    cache.parent.mkdir(parents=True)
    cache.write_bytes(changed_rule(pinned))
    assert ensure(layout["root"], url=f"{base}/render.yaml.json", env={}).origin.startswith(base)
    assert cache.read_bytes() == pinned


def test_nothing_anywhere_fails_with_one_line_naming_both_ways(
    layout: dict[str, Path], web: tuple[str, Path]
) -> None:
    base, _ = web  # answers 404: reachable, but no schema there
    env = {"PATH": "/usr/bin:/bin"}  # no RENDER_SCHEMA_FILE
    argv = ["--root", str(layout["root"]), "--url", f"{base}/render.yaml.json"]
    result = subprocess.run(
        [sys.executable, "-m", "tools.render_schema", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: no Render Blueprint schema: ")
    assert f"{base}/render.yaml.json answered HTTP 404" in lines[0]
    assert f"set {ENV_VAR}=/path/to/render.yaml.schema.json" in lines[0]
    assert f"put the file at {SHARED_FALLBACK} beside the clone" in lines[0]
    assert not cache_path(layout["root"]).exists()
