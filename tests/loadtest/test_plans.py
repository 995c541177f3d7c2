"""The JMeter plans and their data: loadable by JMeter 2.13 and 5.x alike, and consistent.

JMeter cannot run here in a unit test, so these check what would make either
version refuse or misread a plan: XML, element types outside the subset both
versions know, properties nobody documents, variables nothing defines, and data
rows whose expected status contradicts the providers' contract.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.loadtest.conftest import JMETER_DIR, ROOT, load_tool

plans = load_tool("plans")

PLAN_FILES = sorted(JMETER_DIR.glob("*.jmx"))
# Test elements (children of a <hashTree>) that JMeter 2.13 and 5.x both have.
ALLOWED_ELEMENTS = {
    "TestPlan",
    "ThreadGroup",
    "HeaderManager",
    "CSVDataSet",
    "HTTPSamplerProxy",
    "ResponseAssertion",
}
# Nested elements (elementProp elementType / testclass) of those.
ALLOWED_NESTED = {"Arguments", "Argument", "HTTPArgument", "LoopController", "Header"}
PROPERTY_TAGS = {"stringProp", "boolProp", "intProp", "longProp", "elementProp", "collectionProp"}
# Functions both versions have (2.13's function jar lists each).
ALLOWED_FUNCTIONS = {"__P", "__V", "__eval", "__UUID"}

PHONE = re.compile(r"(?:\+88|88)?01[3-9]\d{8}")
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")


def _tree(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_every_plan_is_generated_and_current() -> None:
    assert {p.name for p in PLAN_FILES} == set(plans.PLANS)
    assert plans.main(["--check"]) == 0, "run python3 jmeter/plans.py and commit the result"


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_plan_uses_only_the_common_subset(path: Path) -> None:
    root = _tree(path)
    assert root.tag == "jmeterTestPlan"
    elements = [
        child for tree in root.iter("hashTree") for child in tree if child.tag != "hashTree"
    ]
    assert {e.tag for e in elements} <= ALLOWED_ELEMENTS
    for element in elements:
        assert element.get("testclass") == element.tag
        assert element.get("enabled") == "true"
        for node in element.iter():
            if node is element:
                continue
            assert node.tag in PROPERTY_TAGS, f"{path.name}: <{node.tag}> inside {element.tag}"
            nested = node.get("elementType") or node.get("testclass")
            if nested:
                assert nested in ALLOWED_NESTED, f"{path.name}: nested {nested}"


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_plan_shape(path: Path) -> None:
    root = _tree(path)
    groups = root.findall(".//ThreadGroup")
    assert groups
    for group in groups:
        assert group.find("boolProp[@name='ThreadGroup.scheduler']").text == "true"
        assert "__P(duration," in group.find("stringProp[@name='ThreadGroup.duration']").text
        assert "__P(rampup," in group.find("stringProp[@name='ThreadGroup.ramp_time']").text
        assert "__P(threads," in group.find("stringProp[@name='ThreadGroup.num_threads']").text
        loops = group.find(".//stringProp[@name='LoopController.loops']")
        assert loops.text == "-1"  # forever: the scheduler's duration ends the run
    for sampler in root.findall(".//HTTPSamplerProxy"):
        assert sampler.find("boolProp[@name='HTTPSampler.postBodyRaw']").text == "true"
        assert sampler.find("stringProp[@name='HTTPSampler.method']").text == "POST"
        for name in ("domain", "port", "path"):
            value = sampler.find(f"stringProp[@name='HTTPSampler.{name}']").text
            assert "__P(" in value, f"HTTPSampler.{name} is not a property"
    assertions = root.findall(".//ResponseAssertion")
    assert len(assertions) == len(groups)
    for assertion in assertions:
        field = assertion.find("stringProp[@name='Assertion.test_field']")
        assert field.text == "Assertion.response_code"
        assert assertion.find("boolProp[@name='Assertion.assume_success']").text == "true"
    assert len(root.findall(".//CSVDataSet")) == len(groups)


def _texts(path: Path) -> list[str]:
    root = _tree(path)
    texts = [node.text or "" for node in root.iter()]
    texts += [node.get("testname") or "" for node in root.iter()]
    return texts


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_plan_references_only_known_properties_functions_and_variables(path: Path) -> None:
    text = "\n".join(_texts(path))
    properties = set(re.findall(r"__P\(([A-Za-z0-9_.]+)", text))
    assert properties, "no property at all?"
    assert properties <= set(plans.PROPERTIES), properties - set(plans.PROPERTIES)
    assert set(re.findall(r"\$\{(__\w+)", text)) <= ALLOWED_FUNCTIONS
    # Plain ${name} references: CSV columns or the plan's own user-defined variables.
    root = _tree(path)
    defined = {node.text for node in root.iter("stringProp") if node.get("name") == "Argument.name"}
    for csv_set in root.iter("CSVDataSet"):
        filename = csv_set.find("stringProp[@name='filename']").text
        default = re.search(r"__P\(\w+,([^)]*)\)", filename).group(1)
        with (path.parent / default).open(encoding="utf-8") as handle:
            defined |= set(handle.readline().strip().split(plans.CSV_DELIMITER))
    used = {n for n in re.findall(r"\$\{([A-Za-z_]\w*)\}", text) if not n.startswith("__")}
    assert used <= defined, used - defined
    # __V(...) names are built from prefixes of user-defined variables.
    for prefix in re.findall(r"__V\((\w+?)_\$\{", text):
        assert any(name.startswith(prefix + "_") for name in defined), prefix


def test_every_property_is_documented() -> None:
    doc = (ROOT / "docs" / "loadtesting.md").read_text(encoding="utf-8")
    for name in plans.PROPERTIES:
        assert f"`{name}`" in doc, f"docs/loadtesting.md does not explain property {name}"


def test_routes_accept_provider_failures_only_where_transparent() -> None:
    assert re.fullmatch(plans.ACCEPT["virtual"]["200"], "500") is None
    for route in plans.ROUTES:
        assert re.fullmatch(plans.ACCEPT[route]["200"], "200")
        assert re.fullmatch(plans.ACCEPT[route]["400"], "400")
        assert re.fullmatch(plans.ACCEPT[route]["400"], "500") is None
        if route != "virtual":
            assert re.fullmatch(plans.ACCEPT[route]["200"], "500")


def _rows(name: str) -> list[dict[str, str]]:
    with (JMETER_DIR / "messages" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="|", quoting=csv.QUOTE_NONE))


def _render(template: str, row: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: row[m.group(1)], template)


def _sms_valid(message: dict[str, object]) -> bool:
    phone, text = message.get("phone"), message.get("text")
    return (
        isinstance(phone, str)
        and PHONE.fullmatch(phone) is not None
        and isinstance(text, str)
        and text.strip() != ""
    )


def _email_valid(message: dict[str, object]) -> bool:
    recipients = message.get("recipients")
    return (
        all(isinstance(message.get(f), str) and message[f].strip() for f in ("subject", "body"))
        and isinstance(recipients, list)
        and bool(recipients)
        and all(isinstance(r, str) and EMAIL.fullmatch(r) for r in recipients)
    )


@pytest.mark.parametrize(
    ("kind", "valid"), [(plans.SMS, _sms_valid), (plans.EMAIL, _email_valid)], ids=["sms", "email"]
)
def test_data_rows_expect_what_the_contract_answers(kind: object, valid: object) -> None:
    rows = _rows(kind.name)
    assert len(rows) >= 50
    assert all(list(row) == list(kind.columns) for row in rows)
    invalid = 0
    for row in rows:
        message = json.loads(_render(kind.body, row))  # every body is JSON
        assert row["provider"] in {"1", "2", "3"}
        assert row["expected_status"] in {"200", "400"}
        assert valid(message) == (row["expected_status"] == "200"), row
        invalid += row["expected_status"] == "400"
    assert invalid / len(rows) == pytest.approx(0.10)
