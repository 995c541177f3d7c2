"""docs/policies.md is generated from the models and must stay in step with them."""

from pathlib import Path

from gateway.config.reference import SECTIONS, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "policies.md"


def test_the_policy_reference_matches_the_models():
    assert DOC.read_text() == render(), (
        "docs/policies.md is stale: python -m gateway.config.reference > docs/policies.md"
    )


def test_every_knob_is_documented():
    for _, model in SECTIONS:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
