"""Shared fixtures for every test folder (real servers: see tests/fixtures/)."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.service"]
