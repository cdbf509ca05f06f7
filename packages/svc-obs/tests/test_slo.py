"""SLOs → Prometheus burn-rate rules and a Grafana dashboard, validated by real parsers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from typer.testing import CliRunner

from svc_core.errors import ConfigurationError
from svc_obs import SLO, alert_rules, dashboard
from svc_obs.cli import obs_app
from svc_obs.slo import BURN_RATE_ALERTS, DEFAULT_SLOS

SLOS = [
    SLO("checkout", 0.999, routes="/checkout.*", description="Checkout answers."),
    SLO("search_latency", 0.99, kind="latency", routes="/search", threshold=0.25),
]
# Importable by `svc-infra obs rules --slos …` in the CLI test.
CLI_SLOS = SLOS


def _exprs(doc: dict[str, Any]) -> list[str]:
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def test_rules_have_the_three_burn_rate_windows() -> None:
    doc = alert_rules(SLOS, service="shop")
    assert [g["name"] for g in doc["groups"]] == ["slo-checkout", "slo-search_latency"]
    for group, slo in zip(doc["groups"], SLOS, strict=True):
        alerts = [r for r in group["rules"] if "alert" in r]
        records = {r["record"] for r in group["rules"] if "record" in r}
        assert [(a["labels"]["burn_rate"], a["labels"]["severity"]) for a in alerts] == [
            ("14.4", "page"),
            ("6", "page"),
            ("1", "ticket"),
        ]
        for alert, (factor, long_w, short_w, _) in zip(alerts, BURN_RATE_ALERTS, strict=True):
            assert slo.record_name(long_w) in alert["expr"]
            assert slo.record_name(short_w) in alert["expr"]
            assert f"{factor:g} * {1 - slo.objective:.6g}" in alert["expr"]
            assert slo.record_name(long_w) in records
            assert slo.record_name(short_w) in records
            assert alert["labels"]["service"] == "shop"


def test_every_expression_parses_as_promql() -> None:
    exprs = _exprs(alert_rules([*SLOS, *DEFAULT_SLOS]))
    assert len(exprs) == 4 * (5 + 3)
    for expr in exprs:
        promql_parser.parse(expr)
    latency = alert_rules(SLOS)["groups"][1]["rules"][0]["expr"]
    assert 'le="0.25"' in latency
    assert "http_server_request_duration_seconds_bucket" in latency
    with pytest.raises(ValueError, match="parenthesis"):  # the parser does reject broken PromQL
        promql_parser.parse("sum(rate(x[5m])")


def test_dashboard_is_a_grafana_model_with_valid_queries() -> None:
    doc = dashboard(SLOS, service="shop")
    json.dumps(doc)
    assert doc["title"].startswith("shop")
    assert doc["schemaVersion"] >= 30
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) == 4 + 2 * len(SLOS)
    for panel in doc["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["targets"]
        for target in panel["targets"]:
            promql_parser.parse(target["expr"])


def test_invalid_slos_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        SLO("Bad Name", 0.99)
    with pytest.raises(ConfigurationError):
        SLO("x", 1.0)
    with pytest.raises(ConfigurationError):
        SLO("x", 0.99, kind="latency", threshold=0.3)  # not a bucket bound
    with pytest.raises(ConfigurationError):
        SLO("x", 0.99, routes="(")


def test_cli_writes_rules_and_dashboard(tmp_path: Path) -> None:
    runner = CliRunner()
    rules_file = tmp_path / "rules.yml"
    result = runner.invoke(obs_app, ["rules", "--out", str(rules_file), "--service", "demo"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(rules_file.read_text())
    assert len(doc["groups"]) == len(DEFAULT_SLOS)
    result = runner.invoke(obs_app, ["dashboard"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["panels"]
    bad = runner.invoke(obs_app, ["rules", "--slos", "no_such_module:X"])
    assert bad.exit_code != 0


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(alert_rules([*SLOS, *DEFAULT_SLOS], service="shop")))
    done = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
@pytest.mark.parametrize(("errors_per_min", "fires"), [(5, True), (0, False)])
def test_promtool_fast_burn_pages(tmp_path: Path, errors_per_min: int, fires: bool) -> None:
    """5% errors against a 99.9% objective (50x burn) pages within the hour; none does not."""
    slo = SLO("checkout", 0.999, routes="/checkout")
    rules = alert_rules([slo], service="shop")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    page = next(
        r for r in rules["groups"][0]["rules"] if r.get("alert") == "SLOBurnRate_checkout_1h"
    )
    labels = 'method="POST",route="/checkout"'
    expected = (
        [
            {
                "exp_labels": {
                    "slo": "checkout",
                    "service": "shop",
                    "severity": "page",
                    "burn_rate": "14.4",
                },
                "exp_annotations": page["annotations"],
            }
        ]
        if fires
        else []
    )
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'http_server_requests_total{{{labels},status_code="200"}}',
                        "values": "0+100x90",
                    },
                    {
                        "series": f'http_server_requests_total{{{labels},status_code="500"}}',
                        "values": f"0+{errors_per_min}x90",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "80m",
                        "alertname": "SLOBurnRate_checkout_1h",
                        "exp_alerts": expected,
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [str(PROMTOOL), "test", "rules", "test.yml"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_maintenance_toggle_needs_a_shared_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SVC_REDIS_URL", raising=False)
    runner = CliRunner()
    status = runner.invoke(obs_app, ["maintenance", "status"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["enabled"] is False
    refused = runner.invoke(obs_app, ["maintenance", "on"])
    assert refused.exit_code != 0
    assert isinstance(refused.exception, ConfigurationError)


def test_cli_maintenance_on_redis(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    import uuid

    monkeypatch.setenv("SVC_REDIS_URL", redis_url)
    monkeypatch.setenv("SVC_REDIS_PREFIX", f"svc-obs-test:{uuid.uuid4().hex}:")
    runner = CliRunner()
    on = runner.invoke(obs_app, ["maintenance", "on", "--retry-after", "60", "--reason", "upgrade"])
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout) == {
        "enabled": True,
        "retry_after": 60,
        "reason": "upgrade",
        "source": "kv",
    }
    off = runner.invoke(obs_app, ["maintenance", "off"])
    assert json.loads(off.stdout)["enabled"] is False
