"""Run GitHub Actions workflows\x27 steps here (the workflow test tier, `make test-workflows`)."""
