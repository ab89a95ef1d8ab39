"""Who may call the API: a Cognito user pool (created here, or the team's existing one)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge


class UserAuth(Construct):
    """Creates a user pool with one public app client and the admin group, or imports the pool
    named in the config (`auth.user_pool_id`, `auth.client_ids`).

    The service verifies access tokens itself (JWKS of the pool), so it needs only public
    facts: the pool id (its issuer) and the app client ids. The app client has no secret, so
    there is nothing to inject; a client secret would never go into a plain variable.

    Attributes: `user_pool` (IUserPool), `user_pool_id`, `client_ids` (comma-separated, maybe
    a token), `app_client` (created pools only), `admin_group_name`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.admin_group_name = config.auth.admin_group
        self.app_client: cognito.UserPoolClient | None = None
        if config.auth.user_pool_id:
            self.user_pool: cognito.IUserPool = cognito.UserPool.from_user_pool_id(
                self, "UserPool", config.auth.user_pool_id
            )
            self.user_pool_id = config.auth.user_pool_id
            self.client_ids = ",".join(config.auth.client_ids)
            return
        plus = config.auth.feature_plan == "plus"
        pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=config.user_pool_name,
            # Accounts are created by operators (admin-create-user), never by strangers.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.REQUIRED,
            # Authenticator apps only: SMS codes can be intercepted (SIM swap) and cost money.
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Plus: threat protection (compromised credentials, risky sign-ins) enforced.
            # Essentials (dev) has no threat protection: setting a mode there fails the deploy.
            feature_plan=cognito.FeaturePlan.PLUS if plus else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION if plus else None
            ),
            deletion_protection=config.deletion_protection,
            removal_policy=RemovalPolicy.RETAIN
            if config.retain_on_delete
            else RemovalPolicy.DESTROY,
        )
        self.app_client = pool.add_client(
            "ApiClient",
            user_pool_client_name=f"{config.user_pool_name}-api",
            # A public client (browser, mobile, CLI): a secret could not be kept there.
            generate_secret=False,
            # SRP never sends the password, and every sign-in here uses it (the smoke test and
            # the rehearsal too: tools/cognito_sign_in.py). USER_PASSWORD_AUTH is a dev-only
            # option (`auth.password_auth`).
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=config.auth.password_auth),
            # No hosted UI is configured, so no OAuth grant, scope or callback either (CDK would
            # otherwise enable the implicit and code grants with https://example.com).
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        cognito.CfnUserPoolGroup(
            self,
            "AdminGroup",
            user_pool_id=pool.user_pool_id,
            group_name=config.auth.admin_group,
            description="May read and change every user's portfolio",
        )
        if not plus:
            acknowledge(pool, "AwsSolutions-COG8")
        self.user_pool = pool
        self.user_pool_id = pool.user_pool_id
        self.client_ids = self.app_client.user_pool_client_id
