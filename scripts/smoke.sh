#!/usr/bin/env bash
# The deploy workflow's smoke test of one stage: scripts/smoke.sh STACK_NAME
#
# Reads the stack's LoadBalancerUrl from cdk-outputs.json (`cdk deploy --outputs-file`) and runs
# `python -m tools.smoke`: /health, 401 without a token, then a Cognito sign-in of the
# smoke-test user (password + authenticator-app code: the pool requires MFA) and an
# authenticated read as SMOKE_USER_ID.
# Environment: SMOKE_CLIENT_ID, SMOKE_CLIENT_SECRET (may be empty), SMOKE_USERNAME,
# SMOKE_PASSWORD, SMOKE_TOTP_SECRET, SMOKE_USER_ID. The secrets reach the tool only through its
# environment, never its arguments.
set -euo pipefail
stack="${1:?usage: scripts/smoke.sh STACK_NAME}"
for name in SMOKE_CLIENT_ID SMOKE_USERNAME SMOKE_PASSWORD SMOKE_TOTP_SECRET SMOKE_USER_ID; do
  if [ -z "${!name:-}" ]; then
    echo "error: $name is empty. Fix: set the smoke-test user's variables and secrets (docs/deploy.md, 'Deploy from GitHub')" >&2
    exit 2
  fi
done
url=$(jq -er --arg s "$stack" '.[$s].LoadBalancerUrl' cdk-outputs.json)
# A token from the caller's environment would skip the sign-in under test.
unset SMOKE_ACCESS_TOKEN
.venv/bin/python -m tools.smoke "$url" --user-id "$SMOKE_USER_ID"
