#!/usr/bin/env bash
# The deploy workflow's smoke test of one stage: scripts/smoke.sh STACK_NAME
#
# Reads the stack's outputs from cdk-outputs.json (`cdk deploy --outputs-file`) and runs
# `python -m tools.smoke` against ServiceUrl (https://<domain_name> on a stage with a
# certificate): /health, 401 without a token, then a Cognito sign-in of the smoke-test user
# (SRP + authenticator-app code: the pool requires MFA) and an authenticated read as
# SMOKE_USER_ID. The requests go to the load balancer itself (--connect-to its DNS name) while
# TLS and the Host header use the domain, so the test does not wait for the domain's DNS.
# A stage without a certificate serves plain HTTP to the networks its stage file lists only
# (none by default), and the tool refuses to send a token there: such a stage is not
# smoke-tested from GitHub (the step says so and how to change it), only one with HTTPS.
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
output() { jq -er --arg s "$stack" --arg k "$1" '.[$s][$k]' cdk-outputs.json; }
url=$(output ServiceUrl)
if [[ "$url" != https://* ]]; then
  echo "smoke test of $stack skipped: it serves plain HTTP ($url), to the networks its stage file admits only, and no token crosses plain HTTP. Fix: give the stage a certificate_arn and domain_name in its stage file (docs/deploy.md)"
  exit 0
fi
pool=$(output UserPoolId)
lb_host=$(output LoadBalancerUrl | sed -E 's#^[a-z]+://##; s#[:/].*$##')
url_host=$(printf '%s' "$url" | sed -E 's#^[a-z]+://##; s#[:/].*$##')
via=()
if [[ "$url" == https://* && "$url_host" != "$lb_host" ]]; then
  via=(--connect-to "$lb_host")
fi
# A token from the caller's environment would skip the sign-in under test.
unset SMOKE_ACCESS_TOKEN
.venv/bin/python -m tools.smoke "$url" --user-pool-id "$pool" --user-id "$SMOKE_USER_ID" "${via[@]}"
