"""What the config refuses at the edge and for cost: a certificate without its domain, plain
HTTP to the whole internet, and cost options that would weaken prod. Each refusal names the
setting and the fix."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, StageConfig, load_stage
from tests.infra.conftest import CERTIFICATE_ARN, DOMAIN_NAME, HOSTED_ZONE_ID, TLS


def prod() -> StageConfig:
    return load_stage("prod", image_tag="v1", overrides=TLS)


def refused(stage: str, overrides: dict[str, str], tag: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_stage(stage, image_tag=tag, overrides=overrides)
    assert "Fix: " in str(err.value)
    return err.value


# ---------------------------------------------------------------- domain (item: prod smoke)


def test_a_certificate_needs_its_domain() -> None:
    err = refused("dev", {"certificate_arn": CERTIFICATE_ARN})
    assert err.setting == "domain_name"
    assert 'set domain_name = "api.example.com"' in err.fix
    assert "in stages/dev.toml" in err.fix


def test_a_domain_needs_a_certificate() -> None:
    err = refused("dev", {"domain_name": DOMAIN_NAME})
    assert err.setting == "certificate_arn"
    assert "https://api.fyntrix.example would have no HTTPS listener" in err.problem


@pytest.mark.parametrize(
    "name",
    ["https://api.example.com", "api.example.com.", "API.example.com", "localhost", "a..b.com",
     "-api.example.com", "api_1.example.com", "x" * 64 + ".example.com"],
)  # fmt: skip
def test_domain_name_must_be_a_dns_name(name: str) -> None:
    err = refused("dev", {**TLS, "domain_name": name})
    assert err.setting == "domain_name"
    assert "not a fully qualified DNS name" in err.problem


@pytest.mark.parametrize(
    "zone", ["/hostedzone/Z0123456789AB", "z0123456789ab", "Z12", "Z0123-4567", "Z" * 33]
)
def test_hosted_zone_id_format_is_checked(zone: str) -> None:
    err = refused("dev", {**TLS, "hosted_zone_id": zone})
    assert err.setting == "hosted_zone_id"
    assert "without /hostedzone/" in err.fix


def test_a_hosted_zone_needs_a_domain() -> None:
    err = refused("dev", {"hosted_zone_id": HOSTED_ZONE_ID})
    assert err.setting == "hosted_zone_id"


def test_the_service_url_is_the_domain() -> None:
    config = prod()
    assert config.service_url == "https://api.fyntrix.example"
    assert load_stage("dev").service_url is None


def test_prod_without_a_certificate_names_both_settings_and_the_stage_file() -> None:
    config = load_stage("prod", image_tag="v1")
    with pytest.raises(ConfigError) as err:
        config.check_deployable()
    assert "certificate_arn = " in err.value.fix and "domain_name = " in err.value.fix
    assert "in stages/prod.toml" in err.value.fix


# ---------------------------------------------------------------- plain HTTP (item: tokens)


def test_without_a_certificate_no_cidr_is_admitted_by_default() -> None:
    config = load_stage("dev")
    assert config.allowed_ingress_cidrs is None
    assert config.ingress_cidrs == ()
    notice = config.plain_http_notice or ""
    assert "admits no client" in notice
    assert "add HTTPS with certificate_arn and domain_name in stages/dev.toml" in notice
    assert 'allowed_ingress_cidrs = ["203.0.113.0/24"]' in notice


def test_with_a_certificate_everyone_is_admitted_over_https_by_default() -> None:
    config = prod()
    assert config.ingress_cidrs == ("0.0.0.0/0",)
    assert config.plain_http_notice is None


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "203.0.113.0/24,0.0.0.0/0"])
def test_the_whole_internet_over_plain_http_is_refused(cidr: str) -> None:
    err = refused("dev", {"allowed_ingress_cidrs": cidr})
    assert err.setting == "allowed_ingress_cidrs"
    assert "plain HTTP" in err.problem and "certificate_arn and domain_name" in err.fix


def test_listed_networks_over_plain_http_are_accepted_with_a_notice() -> None:
    config = load_stage("dev", overrides={"allowed_ingress_cidrs": "203.0.113.0/24"})
    assert config.ingress_cidrs == ("203.0.113.0/24",)
    assert "plain HTTP to 203.0.113.0/24" in (config.plain_http_notice or "")


# ---------------------------------------------------------------- Cognito (item: client)


def test_password_auth_is_off_by_default_and_refused_in_prod() -> None:
    assert load_stage("dev").auth.password_auth is False
    assert prod().auth.password_auth is False
    assert load_stage("dev", overrides={"auth.password_auth": "true"}).auth.password_auth
    err = refused("prod", {**TLS, "auth.password_auth": "true"}, tag="v1")
    assert err.setting == "auth.password_auth"
    assert "SRP" in err.problem


# ---------------------------------------------------------------- cost (item: defaults)


def test_dev_uses_essentials_and_prod_keeps_plus() -> None:
    assert load_stage("dev").auth.feature_plan == "essentials"
    assert prod().auth.feature_plan == "plus"
    err = refused("prod", {**TLS, "auth.feature_plan": "essentials"}, tag="v1")
    assert err.setting == "auth.feature_plan"
    assert "threat protection" in err.problem
    assert refused("dev", {"auth.feature_plan": "lite"}).setting == "auth.feature_plan"


def test_spot_is_a_dev_option_refused_in_prod() -> None:
    assert load_stage("dev").capacity.spot is False
    assert load_stage("dev", overrides={"capacity.spot": "true"}).capacity.spot
    err = refused("prod", {**TLS, "capacity.spot": "true"}, tag="v1")
    assert err.setting == "capacity.spot"
    assert "two minutes' notice" in err.problem


def test_an_on_demand_base_needs_spot_and_room_for_spot() -> None:
    assert refused("dev", {"capacity.on_demand_base": "1"}).setting == "capacity.on_demand_base"
    err = refused("dev", {"capacity.spot": "true", "capacity.on_demand_base": "2"})
    assert err.setting == "capacity.on_demand_base"
    assert "no task would ever run on Spot" in err.problem


def test_the_s3_gateway_endpoint_is_on_by_default() -> None:
    assert load_stage("dev").s3_gateway_endpoint is True
    assert prod().s3_gateway_endpoint is True
