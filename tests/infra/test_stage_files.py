"""Stage files (`stages/<stage>.toml`): committed, validated, and what every command reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.config import ConfigError, load_configured_stage, load_stage, refuse_placeholders
from infra.config.stage_file import parse_stage_file, read_stage_file

ROOT = Path(__file__).resolve().parents[2]
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"


def _write(tmp_path: Path, text: str, name: str = "stage.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refused(tmp_path: Path, text: str, stage: str = "dev") -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_configured_stage(stage, image_tag="v1", stage_file=_write(tmp_path, text))
    assert "Fix: " in str(err.value)
    return err.value


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_committed_stage_files_load(stage: str) -> None:
    config, parsed = load_configured_stage(stage, image_tag="v1")
    assert parsed.shown_as == f"stages/{stage}.toml"
    assert config.region == parsed.settings["region"]


def test_committed_prod_synthesizes_with_placeholders_a_deploy_refuses() -> None:
    # GIVEN prod as committed: example values in its [placeholders] table
    config, parsed = load_configured_stage("prod", image_tag="v1")
    config.check_deployable()  # synth (CI, tests, make diff) accepts it
    assert parsed.placeholders_in_use(config) == ["certificate_arn", "domain_name"]
    # WHEN a deploy checks it THEN it names the file, the settings and what to do
    with pytest.raises(ConfigError) as err:
        refuse_placeholders(config, parsed)
    message = str(err.value)
    assert "in stages/prod.toml" in message
    assert "certificate_arn, domain_name still hold the example value" in message
    assert "above the [placeholders] table" in message


def test_a_value_of_your_own_wins_over_its_placeholder(tmp_path: Path) -> None:
    committed = (ROOT / "stages" / "prod.toml").read_text(encoding="utf-8")
    filled = _write(
        tmp_path, f'certificate_arn = "{CERT}"\ndomain_name = "api.acme.test"\n{committed}'
    )
    config, parsed = load_configured_stage("prod", image_tag="v1", stage_file=filled)
    assert (config.certificate_arn, config.domain_name) == (CERT, "api.acme.test")
    assert parsed.placeholders_in_use(config) == []
    refuse_placeholders(config, parsed)  # deployable


def test_tables_nest_like_the_settings_and_values_keep_their_types(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'region = "eu-west-1"\n'
        'allowed_ingress_cidrs = ["203.0.113.0/24", "198.51.100.0/24"]\n'
        "[alarms]\n"
        'notification_emails = ["ops@example.com"]\n'
        "[app.health_check]\n"
        "retries = 5\n"
        "[app.cache_ttl_s]\n"
        "portfolio = 120\n",
    )
    config, _ = load_configured_stage("dev", stage_file=path)
    assert config.region == "eu-west-1"
    assert config.allowed_ingress_cidrs == ("203.0.113.0/24", "198.51.100.0/24")
    assert config.alarms.notification_emails == ("ops@example.com",)
    assert config.app.health_check.retries == 5
    assert config.app.health_check.interval_s == load_stage("dev").app.health_check.interval_s
    # A mapping setting merges: the namespaces the file does not name keep their TTLs.
    assert dict(config.app.cache_ttl_s) == {**load_stage("dev").app.cache_ttl_s, "portfolio": 120}


def test_command_line_overrides_win_over_the_file_for_one_run(tmp_path: Path) -> None:
    path = _write(tmp_path, 'region = "eu-west-1"\n[redis]\nmemory_mib = 512\n')
    config, _ = load_configured_stage(
        "dev",
        stage_file=path,
        overrides={"region": "eu-central-1", "task_memory_mib": "2048"},
    )
    assert (config.region, config.redis.memory_mib) == ("eu-central-1", 512)


@pytest.mark.parametrize(
    ("text", "setting", "problem", "fix"),
    [
        ('regon = "eu-west-1"\n', "regon", "no such setting", "use one of: alarms,"),
        ("[alarms]\nnotification_email = []\n", "alarms.notification_email", "no such setting",
         "notification_emails"),
        ('[alarms]\nnotification_emails = "a@example.com"\n', "alarms.notification_emails",
         "'a@example.com' is a string, not a list of strings", 'a list such as ["a", "b"]'),
        ('[redis]\nmemory_mib = "512"\n', "redis.memory_mib", "is a string, not an integer",
         "a whole number (no quotes)"),
        ("[waf]\nenabled = 1\n", "waf.enabled", "1 is an integer, not a boolean", "true or false"),
        ('redis = "big"\n', "redis", "is a group of settings, not a string", "[redis]"),
        ('stage = "prod"\n', "stage", "cannot be set in a stage file", "STAGE="),
        ('[app]\nimage_tag = "v2"\n', "app.image_tag", "cannot be set in a stage file",
         "IMAGE_TAG="),
        ('repository_name = "other"\n', "repository_name", "cannot be set in a stage file",
         "shared by every stage"),
        ('[ci]\ngithub_repository = "a/b"\n', "ci", "cannot be set in a stage file",
         "make deploy-ci"),
        ('region = "mars-1"\n', "region", "'mars-1' is not an AWS region", "us-east-1"),
        ("[redis]\nmaxmemory_mib = 250\n", "redis.maxmemory_mib", "at or above 80 %",
         "below 204.8"),
    ],
)  # fmt: skip
def test_a_bad_stage_file_names_the_file_the_setting_and_the_fix(
    tmp_path: Path, text: str, setting: str, problem: str, fix: str
) -> None:
    err = _refused(tmp_path, text)
    assert err.setting == setting
    assert err.source is not None and err.source.endswith("stage.toml")
    assert problem in err.problem
    assert fix in err.fix


def test_a_bad_placeholder_is_named_as_one(tmp_path: Path) -> None:
    err = _refused(tmp_path, '[placeholders]\ndomain_name = "Not A Name"\n', stage="prod")
    assert err.setting == "domain_name"
    assert err.source is not None and err.source.endswith("stage.toml [placeholders]")


def test_an_override_error_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, 'region = "eu-west-1"\n')
    with pytest.raises(ConfigError) as err:
        load_configured_stage("dev", stage_file=path, overrides={"region": "nowhere"})
    assert err.value.source is None


def test_unreadable_or_invalid_toml_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read_stage_file(tmp_path / "missing.toml")
    assert "cannot read" in err.value.problem
    assert "STAGE_FILE=" in err.value.fix
    with pytest.raises(ConfigError) as err:
        parse_stage_file('region = "us-east-1\n', shown_as="x.toml")
    assert "x.toml is not valid TOML" in err.value.problem


def test_the_certificate_must_be_in_the_stacks_region(tmp_path: Path) -> None:
    err = _refused(
        tmp_path, f'region = "eu-west-1"\ncertificate_arn = "{CERT}"\ndomain_name = "a.acme.test"\n'
    )
    assert err.setting == "certificate_arn"
    assert "the certificate is in us-east-1, but the stacks deploy to eu-west-1" in err.problem


# ---------------------------------------------------------------- make reads the same file


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    return subprocess.run(
        [make, "--no-print-directory", "-s", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_region_and_dashboard_url_read_the_stage_file_and_set(tmp_path: Path) -> None:
    path = _write(tmp_path, 'region = "eu-west-1"\n')
    region = _make("region", "STAGE=prod", f"STAGE_FILE={path}")
    assert (region.returncode, region.stdout.strip()) == (0, "eu-west-1"), region.stderr
    url = _make("dashboard-url", "STAGE=prod", f"STAGE_FILE={path}")
    assert url.stdout.strip() == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards/dashboard/fyntrix-prod-dashboard"
    )
    # SET= wins for one run; the shell's AWS region never chooses it
    moved = _make("region", "STAGE=dev", "SET=region=ap-southeast-2", env={"AWS_REGION": "x"})
    assert moved.stdout.strip() == "ap-southeast-2"
    committed = _make("region", "STAGE=dev", env={"CDK_DEFAULT_REGION": "eu-central-1"})
    assert committed.stdout.strip() == load_configured_stage("dev")[0].region
    bad = _make("region", "STAGE=dev", f"STAGE_FILE={_write(tmp_path, 'regon = 1', 'b.toml')}")
    assert bad.returncode != 0
    assert "invalid setting `regon` in " in bad.stderr
