"""The Dockerfile and the Helm chart carry what the gateway needs, and the chart's
embedded gateway.yaml is a valid config."""

import re
from pathlib import Path

import yaml

from gateway.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "notification-gateway"


def test_every_path_the_dockerfile_copies_exists():
    copied = re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert {"gateway", "simulator", "policies", "gateway.yaml", "pyproject.toml"} <= set(sources)
    assert all((ROOT / source).exists() for source in sources)


def test_the_chart_metadata_and_values_load():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["gateway"]["port"] == 8080


def test_the_charts_gateway_yaml_passes_gateway_check():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    config = parse_config(values["config"], "helm values.config")
    assert config.data_dir == "/data"
    assert set(config.policies) >= {"failover", "passthrough"}


def test_templates_only_use_values_that_exist():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for template in (CHART / "templates").glob("*.yaml"):
        for path in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", template.read_text()):
            node = values
            for part in path.split("."):
                assert isinstance(node, dict), f"{template.name}: {path}"
                assert part in node, f"{template.name}: {path}"
                node = node[part]
