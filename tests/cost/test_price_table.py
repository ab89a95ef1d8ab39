"""The pinned table: dated, every price with its unit and source, regions refused by name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generators.render_blueprint import RENDER_PLANS_MIB
from infra.config import load_stage
from tests.cost.conftest import estimated, usd
from tests.cost.samples import SAMPLES
from tools.cost.errors import CostError
from tools.cost.estimate import apply_free_tiers
from tools.cost.price_table import PRICES_FILE, PriceTable, load_table, read_raw


def test_the_table_is_dated_and_every_entry_has_unit_source_and_status() -> None:
    raw = read_raw()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw["as_of"])
    table = load_table("us-east-1")  # validates every entry
    assert table.prices and table.counts
    for entry in table.unconfirmed():
        assert entry.note, entry.key  # an unconfirmed price says why


def test_the_table_is_written_the_way_make_prices_writes_it() -> None:
    # make prices rewrites the file as json.dumps(indent=2): a hand edit in another layout
    # would turn the first refresh into a noisy diff.
    assert PRICES_FILE.read_text() == json.dumps(read_raw(), indent=2) + "\n"


def test_a_region_the_table_lacks_is_refused_naming_make_prices() -> None:
    with pytest.raises(CostError) as caught:
        load_table("eu-west-1")
    assert "no prices for region eu-west-1" in str(caught.value)
    assert "make prices REGIONS=eu-west-1" in str(caught.value)


def test_a_stage_in_such_a_region_cannot_be_estimated() -> None:
    config = load_stage("dev", overrides={"region": "eu-west-1"})
    argv = ["estimate", "--stage", "dev", "--set", "region=eu-west-1", "--cdk-out", "."]
    result = subprocess.run(
        [sys.executable, "-m", "tools.cost", *argv],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert config.region == "eu-west-1"
    assert result.returncode == 2
    assert "no prices for region eu-west-1" in result.stderr


def test_an_entry_without_a_source_or_a_note_is_rejected(tmp_path: Path) -> None:
    raw = read_raw()
    raw["regions"]["us-east-1"]["nat.hour"].pop("source")
    raw["regions"]["us-east-1"]["kms.key_month"].update(confirmed=False)
    broken = tmp_path / "prices.json"
    broken.write_text(json.dumps(raw))
    with pytest.raises(CostError, match=re.escape("'kms.key_month': unconfirmed without a note")):
        load_table("us-east-1", broken)
    raw["regions"]["us-east-1"]["kms.key_month"]["note"] = "why"
    broken.write_text(json.dumps(raw))
    with pytest.raises(CostError, match=re.escape("'nat.hour': no https source")):
        load_table("us-east-1", broken)


def test_a_missing_price_names_the_key_and_the_file(table: PriceTable) -> None:
    with pytest.raises(CostError, match="has no price 'nope' for us-east-1"):
        table.price("nope")


def test_every_render_plan_the_blueprint_generator_can_choose_has_a_price(
    table: PriceTable,
) -> None:
    for plan, _ in RENDER_PLANS_MIB:
        assert f"render.instance.{plan}" in table.prices, plan


def test_free_tiers_are_subtracted_once_per_account_across_items(table: PriceTable) -> None:
    _, kind, props = SAMPLES["AWS::CloudWatch::Alarm"][0]  # an alarm on 2 metrics
    specs = [(f"Alarm{n}", kind, props) for n in range(7)]
    full = estimated(*specs)
    free = estimated(*specs, apply_free_tiers=True)
    price = usd(table, "cloudwatch.alarm_metric_month")
    assert full.total_max_usd == pytest.approx(14 * price)
    assert free.total_max_usd == pytest.approx((14 - 10) * price)  # 10 alarm metrics free
    assert apply_free_tiers([]) == []
