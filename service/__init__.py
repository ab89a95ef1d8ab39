"""Fyntrix backend service. Kept import-free: `python -m service.healthcheck` loads this first."""
