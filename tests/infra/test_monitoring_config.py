"""Alarm and CI settings: bad input fails at synth naming the setting and the fix."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.config import CI_STACK_NAME, ConfigError, load_stage, setting_paths
from infra.config.__main__ import main as config_main
from tests.infra.conftest import CERTIFICATE_ARN

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"

BAD = [
    pytest.param(
        {"alarms.container_memory_percent": "101"},
        "alarms.container_memory_percent",
        "101 % is not a percentage from 1 to 100",
        "choose a memory utilisation from 1 to 100",
        id="percent-over-100",
    ),
    pytest.param(
        {"alarms.target_5xx_percent": "0"},
        "alarms.target_5xx_percent",
        "0 % is not a percentage",
        "from 1 to 100",
        id="percent-zero",
    ),
    pytest.param(
        {"alarms.p99_latency_ms": "-250"},
        "alarms.p99_latency_ms",
        "-250 ms is not a latency from 1 to 60000 ms",
        "choose a p99 latency in milliseconds",
        id="negative-latency",
    ),
    pytest.param(
        {"alarms.notification_emails": "ops@example.com,ops.example.com"},
        "alarms.notification_emails",
        "'ops.example.com' is not an e-mail address",
        "use addresses like ops@example.com",
        id="invalid-email",
    ),
    pytest.param(
        {"alarms.notification_emails": "ops@example.com,ops@example.com"},
        "alarms.notification_emails",
        "listed twice",
        "list each address once",
        id="duplicate-email",
    ),
    pytest.param(
        {"alarms.cache_hit_ratio_floor_percent": "100"},
        "alarms.cache_hit_ratio_floor_percent",
        "100 % is not a hit-ratio floor",
        "from 1 to 99",
        id="hit-ratio-floor-100",
    ),
    pytest.param(
        {"alarms.evictions_per_5min": "-1"},
        "alarms.evictions_per_5min",
        "-1 is below 0",
        "an eviction count of at least 0",
        id="negative-evictions",
    ),
    pytest.param(
        {"alarms.container_memory_percent": "80"},
        "alarms.container_memory_percent",
        "80 % of the redis container's limit is where a full cache already sits "
        "(maxmemory 192 MiB = 75 % of 256 MiB, plus about 5 % of Redis's own overhead)",
        "choose a threshold above 80 %, or lower redis.maxmemory_mib",
        id="memory-alarm-below-a-full-cache",
    ),
    pytest.param(
        {"redis.maxmemory_mib": "200", "alarms.container_memory_percent": "82"},
        "alarms.container_memory_percent",
        "maxmemory 200 MiB = 78.125 % of 256 MiB",
        "choose a threshold above 83.125 %",
        id="memory-alarm-below-a-larger-maxmemory",
    ),
    pytest.param(
        {"alarms.bad_deploy_minutes": "0"},
        "alarms.bad_deploy_minutes",
        "0 minutes is outside 1-60 minutes",
        "1 to 60 minutes",
        id="zero-minutes",
    ),
    pytest.param(
        {"alarms.p99_latency_ms": "fast"},
        "alarms.p99_latency_ms",
        "'fast' is not a valid int",
        "pass a value of that type",
        id="latency-not-a-number",
    ),
    pytest.param(
        {"container_insights": "false"},
        "container_insights",
        "never see data",
        "keep container_insights on",
        id="insights-off",
    ),
    pytest.param(
        {"ci.github_repository": "just-a-name"},
        "ci.github_repository",
        "'just-a-name' is not a GitHub repository",
        "use owner/name",
        id="repository-without-owner",
    ),
    pytest.param(
        {"ci.prod_environment": "prod:*"},
        "ci.prod_environment",
        "is not an environment name",
        "no ':' or '*'",
        id="environment-with-wildcard",
    ),
    pytest.param(
        {"ci.deploy_branch": "*"},
        "ci.deploy_branch",
        "is not a branch name",
        "no ':' or '*'",
        id="branch-wildcard",
    ),
]


@pytest.mark.parametrize(("overrides", "setting", "problem", "fix"), BAD)
def test_bad_monitoring_input_names_the_setting_and_the_fix(
    overrides: dict[str, str], setting: str, problem: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_stage("dev", overrides=overrides)
    assert err.value.setting == setting
    assert problem in err.value.problem
    assert fix in err.value.fix
    assert str(err.value).startswith(f"invalid setting `{setting}`")


def test_good_monitoring_input_is_typed() -> None:
    cfg = load_stage(
        "prod",
        image_tag="abc123",
        overrides={
            "alarms.notification_emails": " ops@example.com , a.b+c@sub.example.co.uk ",
            "alarms.p99_latency_ms": "60000",
            "alarms.container_cpu_percent": "100",
            "ci.github_repository": "acme-org/fyntrix.deploy",
            "ci.create_oidc_provider": "no",
        },
    )
    assert cfg.alarms.notification_emails == ("ops@example.com", "a.b+c@sub.example.co.uk")
    assert cfg.alarms.p99_latency_ms == 60000
    assert cfg.alarms.container_cpu_percent == 100
    assert cfg.ci.github_repository == "acme-org/fyntrix.deploy"
    assert cfg.ci.create_oidc_provider is False


def test_every_monitoring_setting_has_a_description() -> None:
    rows = [s for s in setting_paths() if s.path.startswith(("alarms.", "ci."))]
    assert len(rows) >= 20
    assert all(len(r.description) > 20 for r in rows), [r.path for r in rows]


def test_ci_settings_are_the_same_in_every_stage() -> None:
    # Fyntrix-CI is deployed once per account: no stage may set it apart.
    dev, prod = load_stage("dev"), load_stage("prod", image_tag="x")
    assert dev.ci == prod.ci


def test_dashboard_url_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_main(["dashboard-url", "dev", "region=ap-southeast-2"]) == 0
    assert capsys.readouterr().out.strip() == (
        "https://ap-southeast-2.console.aws.amazon.com/cloudwatch/home?region=ap-southeast-2"
        "#dashboards/dashboard/fyntrix-dev-dashboard"
    )
    assert config_main(["dashboard-url", "dev", "region=mars-1"]) == 2
    assert "invalid setting `region`" in capsys.readouterr().err
    assert config_main(["ci"]) == 0
    assert capsys.readouterr().out.strip() == CI_STACK_NAME


def _cdk_synth(*args: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    if not CDK.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `make setup`")
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",  # tests are no CDK usage to report
    }
    return subprocess.run(
        [str(CDK), "synth", "--quiet", "--no-notices", "-o", str(outdir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_cli_synth_rejects_a_threshold_a_full_cache_would_trip(tmp_path: Path) -> None:
    result = _cdk_synth(
        "-c", "stage=dev", "-c", "set:alarms.container_memory_percent=78", outdir=tmp_path
    )
    assert result.returncode != 0
    assert "invalid setting `alarms.container_memory_percent`" in result.stderr
    assert "Fix: choose a threshold above 80 %, or lower redis.maxmemory_mib" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.slow
def test_cli_synth_with_a_repository_adds_the_ci_stack_nag_clean(tmp_path: Path) -> None:
    result = _cdk_synth(
        "-c", "stage=prod", "-c", "imageTag=abc123", "-c", "set:ci.github_repository=acme/fyntrix",
        "-c", f"certificateArn={CERTIFICATE_ARN}", "-c", "domainName=api.fyntrix.example",
        outdir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in tmp_path.glob("*.template.json"))
    assert f"{CI_STACK_NAME}.template.json" in names
    assert len(names) == 4  # registry, CI, state, service
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert [p for p in report["pluginReports"] if p.get("violations")] == []
    ci = json.loads((tmp_path / f"{CI_STACK_NAME}.template.json").read_text())
    assert "AWS::IAM::OIDCProvider" in {r["Type"] for r in ci["Resources"].values()}
