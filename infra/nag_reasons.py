"""Every cdk-nag acknowledgment's reason, in one CDK-free place.

`infra/nag.py` applies them at the narrowest construct; the docs generator (`generators/`)
publishes them without starting jsii.
"""

from __future__ import annotations

from typing import Final

# rule id -> reason an auditor would accept. Keep reasons specific to this design.
REASONS: Final[dict[str, str]] = {
    "AwsSolutions-ECS2": (
        "The app container's plain environment holds only non-secret wiring (REDIS_HOST="
        "localhost, ports, DB index, cache TTLs, expected Redis settings, APP_STAGE, and the "
        "Cognito issuer URL, app client ids and admin group name, which appear in every token). "
        "Every credential (DATABASE_URL, AWS_COGNITO_CLIENT_SECRET, API keys) is injected from "
        "Secrets Manager via `secrets`."
    ),
    "AwsSolutions-IAM5[Resource::*]": (
        "ECS Exec's ssmmessages:Create*/Open* channels and logs:DescribeLogGroups, and the "
        "image pull's ecr:GetAuthorizationToken, have no resource-level permissions in IAM; AWS "
        "documents `*` as the only valid resource. Every other statement is scoped."
    ),
    "AwsSolutions-IAM5[log-streams]": (
        "ECS Exec writes session transcripts as new log streams of exactly one log group (the "
        "cluster's encrypted exec audit log group); stream names are chosen per session, so "
        "`log-group:<that group>:*` is the narrowest resource IAM can express."
    ),
    "AwsSolutions-IAM5[ecr-login]": (
        "ecr:GetAuthorizationToken has no resource-level permissions in IAM (AWS documents `*` "
        "as its only resource); the token only lets `docker login` reach the registry, and "
        "every push action of the GitHub deploy role is scoped to the app repository's ARN."
    ),
    "AwsSolutions-IAM5[stack-id]": (
        "A CloudFormation stack's ARN ends in an id CloudFormation generates when it creates the "
        "stack (and again after a delete and re-create); `stack/<name>/*` is the narrowest "
        "resource that names exactly one of this project's stacks by its fixed name. The "
        "pull-request diff role may only DescribeStacks and GetTemplate on those stacks."
    ),
    "AwsSolutions-EC23": (
        "The Application Load Balancer is the public entry point of the web API; its security "
        "group admits only the configured CIDRs (`allowed_ingress_cidrs`) on 80/443, and tasks "
        "accept traffic only from the load balancer's group."
    ),
    "AwsSolutions-S1": (
        "This bucket is the destination of the load balancer's access logs; logging its own "
        "access to itself would recurse, and a second bucket would need a third. S3 data events "
        "belong in the account's CloudTrail."
    ),
    "AwsSolutions-SMG4": (
        "The secret holds externally issued credentials (database URL, Cognito app client, "
        "market-data API key) that their issuers rotate; no rotation Lambda can rotate them. "
        "Rotate by updating the secret and forcing a new deployment."
    ),
    "AwsSolutions-COG8": (
        "The Essentials feature plan is dev's default (`auth.feature_plan`; prod refuses any "
        "plan but Plus at synth): Plus costs more per monthly active user and adds only threat "
        "protection, which a pool of the team's own administrator-created test accounts, with "
        "MFA required, does not need."
    ),
    # ---- NIST 800-53 rev 5
    "NIST.800.53.R5-SecretsManagerRotationEnabled": (
        "The secret holds externally issued credentials (database URL, Cognito app client, "
        "market-data API key) that their issuers rotate; no rotation Lambda can rotate them. "
        "Rotate by updating the secret and forcing a new deployment (docs/deploy.md: Deploy to "
        "AWS, Steps, step 4)."
    ),
    "NIST.800.53.R5-IAMNoInlinePolicy": (
        "CDK renders each role's grants as an AWS::IAM::Policy attached to exactly that role and "
        "built from resource-scoped grants (this log group, this secret, this repository). A "
        "customer-managed policy could be attached to other principals: wider, not narrower."
    ),
    "NIST.800.53.R5-IAMNoInlinePolicy#github-roles": (
        "Each GitHub role's policy is attached to exactly that role and lists its resources by "
        "full ARN (a stage's CDK bootstrap roles, the app repository for dev's deploy role, "
        "this project's stacks for the diff role); a customer-managed policy could be attached "
        "to other principals: wider, not narrower."
    ),
    "NIST.800.53.R5-ELBDeletionProtectionEnabled": (
        "Deletion protection is the per-stage setting `deletion_protection`: on in prod. Dev "
        "stages are disposable by design and must be removable by `make destroy` without a "
        "manual console step; they hold no data (the access-log bucket is retained)."
    ),
    "NIST.800.53.R5-ELBv2ACMCertificateRequired": (
        "Only dev may run without an ACM certificate (`certificate_arn`); prod fails at synth "
        "without one. A certificate needs a domain the operator owns, so it cannot be a default; "
        "with one, dev too serves HTTPS on 443 (TLS 1.2/1.3 policy) and 80 only redirects."
    ),
    "NIST.800.53.R5-ELBv2ACMCertificateRequired#redirect-listener": (
        "This listener only answers port 80 with a permanent redirect to the HTTPS listener, "
        "which uses the configured ACM certificate; no content is ever served over plain HTTP, "
        "and a certificate on a redirect-only listener would protect nothing."
    ),
    "NIST.800.53.R5-ALBHttpToHttpsRedirection": (
        "Only dev may run without a certificate (`certificate_arn` unset; prod fails at synth), "
        "and without one there is no HTTPS listener to redirect to; configuring one adds the 443 "
        "listener and turns port 80 into a permanent redirect to HTTPS (covered by tests)."
    ),
    "NIST.800.53.R5-ALBWAFEnabled": (
        "This dev stage was deployed with `waf.enabled=false` (a config validation rejects that "
        "for prod, where the web ACL is always associated). A disposable dev stage may skip "
        "WAF's per-rule cost; the load balancer still forwards only /api/* and /health, admits "
        "only the configured CIDRs and drops invalid headers."
    ),
    "NIST.800.53.R5-S3BucketLoggingEnabled": (
        "This bucket is the destination of the load balancer's access logs; logging its own "
        "access to itself would recurse, and a second bucket would need a third. S3 data events "
        "belong in the account's CloudTrail."
    ),
    "NIST.800.53.R5-S3BucketReplicationEnabled": (
        "Load-balancer access logs are operational telemetry kept for `log_retention_days`, not "
        "a system of record; the bucket is versioned and retained on stack deletion. "
        "Cross-region replication would double the storage of data nobody restores."
    ),
    "NIST.800.53.R5-S3DefaultEncryptionKMS": (
        "Elastic Load Balancing delivers access logs only to buckets encrypted with SSE-S3 "
        "(AES-256); default encryption with SSE-KMS makes log delivery fail. The bucket enforces "
        "TLS and blocks all public access."
    ),
    "NIST.800.53.R5-VPCDefaultSecurityGroupClosed": (
        "No resource uses the VPC's default security group: every group here is explicit and "
        "least-privilege. Closing it takes a Lambda-backed custom resource; enforce it account-"
        "wide with the AWS Config rule vpc-default-security-group-closed instead."
    ),
    "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW": (
        "Public subnets need a default route to the internet gateway: they hold only the "
        "internet-facing load balancer and the NAT gateways. Tasks run in private subnets "
        "without public IPs and are reachable only from the load balancer's group."
    ),
}
