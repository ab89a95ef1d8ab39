"""Operator commands for the service's Redis: `python -m service.ops --help`.

Shipped in the app image so they also run inside the ECS task (`make redis-cli`, `make doctor`).
Imports only the standard library, redis-py and the settings module: no FastAPI, no uvicorn,
nothing that opens a connection at import time.
"""
