"""No phone number or e-mail address reaches a log line unmasked."""

import io

import orjson
import pytest

from gateway.telemetry.logging import configure_logging, get_logger
from gateway.telemetry.masking import mask_email, mask_phone, mask_text, mask_value


def test_a_phone_keeps_its_first_and_last_two_digits():
    assert mask_phone("01712345678") == "01*******78"
    assert mask_phone("+8801712345678") == "+88*********78"


def test_an_address_keeps_its_first_letter_and_domain():
    assert mask_email("alice@example.com") == "a***@example.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Invalid email in recipients: bob@mail.io", "Invalid email in recipients: b***@mail.io"),
        ("to 8801912345678 and 01312345678.", "to 88*********78 and 01*******78."),
        ("request 42 took 12 ms", "request 42 took 12 ms"),
        ("id 3f2a9c", "id 3f2a9c"),
    ],
)
def test_mask_text_masks_only_personal_data(text, expected):
    assert mask_text(text) == expected


def test_mask_value_walks_nested_structures():
    value = {"to": ["a@b.co", {"phone": "01712345678"}], "n": 3}
    assert mask_value(value) == {"to": ["a***@b.co", {"phone": "01*******78"}], "n": 3}


def test_log_lines_are_json_with_personal_data_masked():
    stream = io.BytesIO()
    configure_logging("info", stream=stream)
    try:
        get_logger().info("sent", phone="01712345678", recipients=["carol@example.org"], status=200)
        get_logger().debug("hidden", phone="01712345678")
    finally:
        configure_logging("info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, "debug lines are filtered at info level"
    event = orjson.loads(lines[0])
    assert event["phone"] == "01*******78"
    assert event["recipients"] == ["c***@example.org"]
    assert event["status"] == 200
    assert b"01712345678" not in stream.getvalue()
