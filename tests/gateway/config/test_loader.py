"""`gateway check` points at the line of every bad setting; good files load as typed models."""

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import ConfigError, default_config, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]


def test_an_empty_file_is_the_embedded_default():
    assert parse_config("") == default_config()


def test_the_shipped_gateway_yaml_spells_out_the_embedded_default():
    assert load_config(ROOT / "gateway.yaml") == default_config()


def test_the_default_names_the_seed_providers_on_loopback():
    config = default_config()
    assert config.providers.sms["provider2"].endpoint("sms", "provider2") == (
        "http://127.0.0.1:8072/api/sms/provider2"
    )
    assert config.providers.email["provider3"].url == "http://127.0.0.1:8093"


def test_every_error_is_reported_with_its_line():
    text = (
        "server:\n"
        "  max_body_bytes: -1\n"
        "  colour: blue\n"
        "providers:\n"
        "  sms:\n"
        "    provider1: {url: 'ftp://x'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gw.yaml")
    found = {(issue.path, issue.location.line) for issue in caught.value.issues}
    assert found == {
        ("server.max_body_bytes", 2),
        ("server.colour", 3),
        ("providers.sms.provider1.url", 6),
    }
    assert "unknown setting" in str(caught.value)


def test_provider_names_must_match_the_route_pattern():
    with pytest.raises(ConfigError, match="provider name 'main'"):
        parse_config("providers:\n  sms:\n    main: {url: 'http://127.0.0.1:1'}\n")


def test_a_config_without_any_provider_is_refused():
    with pytest.raises(ConfigError, match="no provider configured"):
        parse_config("providers:\n  sms: {}\n  email: {}\n")


def test_yaml_syntax_errors_carry_a_position():
    with pytest.raises(ConfigError) as caught:
        parse_config("server: [1,\n", "bad.yaml")
    assert str(caught.value).startswith("bad.yaml:2:")


def test_a_scalar_document_is_refused():
    with pytest.raises(ConfigError, match="must hold a mapping"):
        parse_config("just text")


def test_check_command_prints_each_issue_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  client: curl\n  connect_timeout_ms: 0\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:2:3: upstream.client:")
    assert err[1].startswith(f"{bad}:3:3: upstream.connect_timeout_ms:")


def test_check_command_accepts_a_good_file(capsys):
    assert main(["check", str(ROOT / "gateway.yaml")]) == 0
    assert "OK (6 providers)" in capsys.readouterr().out


def test_check_command_reports_a_missing_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err
