#!/usr/bin/env bash
# The deploy workflow's smoke test of one stage: scripts/smoke.sh STACK_NAME
#
# Reads the stack's LoadBalancerUrl from cdk-outputs.json (`cdk deploy --outputs-file`), gets a
# Cognito access token for the smoke-test user with `aws cognito-idp initiate-auth`
# (USER_PASSWORD_AUTH; SECRET_HASH when the app client has a secret), and runs
# `python -m tools.smoke`: /health, 401 without a token, an authenticated read as SMOKE_USER_ID.
# Environment: CLIENT_ID, CLIENT_SECRET (may be empty), SMOKE_USERNAME, SMOKE_PASSWORD,
# SMOKE_USER_ID. The token is masked in the log and passed to the tool only in its environment.
set -euo pipefail
stack="${1:?usage: scripts/smoke.sh STACK_NAME}"
for name in CLIENT_ID SMOKE_USERNAME SMOKE_PASSWORD SMOKE_USER_ID; do
  if [ -z "${!name:-}" ]; then
    echo "error: $name is empty. Fix: set the smoke-test user's variables and secrets (docs/deploy.md, 'Deploy from GitHub')" >&2
    exit 2
  fi
done
url=$(jq -er --arg s "$stack" '.[$s].LoadBalancerUrl' cdk-outputs.json)
params=$(jq -n --arg u "$SMOKE_USERNAME" --arg p "$SMOKE_PASSWORD" '{USERNAME: $u, PASSWORD: $p}')
if [ -n "${CLIENT_SECRET:-}" ]; then
  hash=$(printf '%s' "$SMOKE_USERNAME$CLIENT_ID" | openssl dgst -sha256 -hmac "$CLIENT_SECRET" -binary | base64)
  params=$(jq --arg h "$hash" '. + {SECRET_HASH: $h}' <<<"$params")
fi
token=$(aws cognito-idp initiate-auth --client-id "$CLIENT_ID" --auth-flow USER_PASSWORD_AUTH \
  --auth-parameters "$params" --query AuthenticationResult.AccessToken --output text)
echo "::add-mask::$token"
SMOKE_ACCESS_TOKEN="$token" .venv/bin/python -m tools.smoke "$url" --user-id "$SMOKE_USER_ID"
