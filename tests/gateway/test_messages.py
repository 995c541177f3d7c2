"""The gateway refuses exactly what a provider would, with every field error listed."""

import pytest

from gateway.messages import js_string, js_truthy, validate

GOOD_SMS = {"phone": "01712345678", "text": "hello"}
GOOD_EMAIL = {"subject": "s", "body": "b", "recipients": ["a@example.com"]}


@pytest.mark.parametrize("phone", ["01712345678", "8801712345678", "+8801912345678", 8801312345678])
def test_valid_phone_numbers_are_accepted(phone):
    assert validate("sms", {**GOOD_SMS, "phone": phone}) == []


@pytest.mark.parametrize(
    "phone",
    [
        "01212345678",
        "0171234567",
        "017123456789",
        "+8801712345678\n",
        "",
        None,
        0,
        [],
        "٠1712345678",
    ],
)
def test_invalid_phone_numbers_are_refused_with_the_provider_text(phone):
    errors = validate("sms", {**GOOD_SMS, "phone": phone})
    assert [(e.field, e.message) for e in errors] == [("phone", "Invalid or missing phone number")]


def test_a_phone_in_a_one_element_array_is_accepted_as_javascript_coerces_it():
    assert validate("sms", {**GOOD_SMS, "phone": ["01712345678"]}) == []


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "\ufeff", None, 5, ["x"]])
def test_blank_or_non_string_text_is_refused(text):
    assert [e.field for e in validate("sms", {**GOOD_SMS, "text": text})] == ["text"]


def test_every_sms_error_is_listed_phone_first():
    errors = validate("sms", {})
    assert [e.field for e in errors] == ["phone", "text"]


def test_a_non_object_body_has_no_fields():
    assert [e.field for e in validate("email", ["x"])] == ["subject", "body", "recipients"]


def test_email_errors_follow_the_provider_order_and_name_the_bad_recipient():
    errors = validate("email", {"subject": " ", "body": "b", "recipients": ["ok@x.io", "bad@", 7]})
    assert [(e.field, e.message) for e in errors] == [
        ("subject", "Invalid or missing subject"),
        ("recipients[1]", "Invalid email in recipients: bad@"),
        ("recipients[2]", "Invalid email in recipients: 7"),
    ]


@pytest.mark.parametrize("recipients", [[], "a@example.com", None, {"a": "a@example.com"}])
def test_recipients_must_be_a_non_empty_list(recipients):
    errors = validate("email", {**GOOD_EMAIL, "recipients": recipients})
    assert [(e.field, e.message) for e in errors] == [
        ("recipients", "Invalid or missing recipients list")
    ]


def test_an_address_followed_by_a_newline_is_refused():
    errors = validate("email", {**GOOD_EMAIL, "recipients": ["a@example.com\n"]})
    assert [e.field for e in errors] == ["recipients[0]"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (12, "12"),
        (1.0, "1"),
        (1.5, "1.5"),
        ([1, None, "a"], "1,,a"),
        ({}, "[object Object]"),
    ],
)
def test_js_string_matches_javascript(value, expected):
    assert js_string(value) == expected


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (0, False),
        (0.0, False),
        ("", False),
        (None, False),
        ([], True),
        ({}, True),
        ("0", True),
        (False, False),
    ],
)
def test_js_truthy_matches_javascript(value, truthy):
    assert js_truthy(value) is truthy
