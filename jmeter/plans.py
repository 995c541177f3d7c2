#!/usr/bin/env python3
"""Writes the JMeter plans (jmeter/*.jmx) and their message data (jmeter/messages/*.csv).

The .jmx files and the CSV files are committed; this script is their source, so
the three plans cannot drift apart and a test can check that what is committed
is what this writes. After changing this file run `python3 jmeter/plans.py`.

The plans use only elements that JMeter 2.13 (Debian's) and 5.x both load:
TestPlan (with user-defined variables), ThreadGroup with scheduler and duration,
LoopController, HeaderManager, CSVDataSet, HTTPSamplerProxy with a raw body and
ResponseAssertion. Every knob is a JMeter property read with `${__P(name,default)}`
(set with `-Jname=value`); PROPERTIES below is the complete list, documented in
docs/loadtesting.md.

Standard library only: ops can run it wherever JMeter runs.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape, quoteattr

HERE: Final = Path(__file__).resolve().parent

# name -> (default, meaning). The only properties the plans read.
PROPERTIES: Final[dict[str, tuple[str, str]]] = {
    "host": ("127.0.0.1", "gateway host name or address"),
    "port": ("8080", "gateway port"),
    "protocol": ("http", "http or https"),
    "route": (
        "virtual",
        "virtual (POST /api/<type>), transparent (POST /api/<type>/provider<n>, n from the "
        "CSV row), or provider1, provider2, provider3 (all traffic to that provider)",
    ),
    "sms_path": ("/api/sms", "base path of the SMS routes"),
    "email_path": ("/api/email", "base path of the email routes"),
    "threads": ("4", "concurrent virtual users per thread group"),
    "sms_threads": ("${threads}", "SMS users (defaults to threads; 0 disables SMS)"),
    "email_threads": ("${threads}", "email users (defaults to threads; 0 disables email)"),
    "rampup": ("5", "seconds to start all users of a thread group"),
    "duration": ("30", "seconds each thread group runs (includes the ramp-up)"),
    "sms_csv": ("messages/sms.csv", "SMS rows, relative to the plan's folder or absolute"),
    "email_csv": ("messages/email.csv", "email rows, relative to the plan's folder or absolute"),
    "connect_timeout": ("2000", "connect timeout in ms"),
    "response_timeout": ("10000", "response timeout in ms"),
}

ROUTES: Final = ("virtual", "transparent", "provider1", "provider2", "provider3")
# What a row whose `expected_status` is 200 or 400 may answer on each route, as a
# regex the ResponseAssertion matches the whole status code against. A provider
# fails about half of its sends with 500, and the transparent routes pass that
# through on purpose; the virtual route must hide it.
ACCEPT: Final[dict[str, dict[str, str]]] = {
    "virtual": {"200": "200", "400": "400"},
    **{route: {"200": "200|500", "400": "400"} for route in ROUTES[1:]},
}
# The path after <type>_path for each route; `${provider}` is the CSV row's column,
# expanded per request by __eval.
SUFFIX: Final[dict[str, str]] = {
    "virtual": "",
    "transparent": "/provider${provider}",
    **{route: f"/{route}" for route in ROUTES[2:]},
}
CSV_DELIMITER: Final = "|"


def prop(name: str) -> str:
    """`${__P(name,default)}` for a property of PROPERTIES."""
    default = PROPERTIES[name][0]
    if default == "${threads}":
        default = prop("threads")
    return f"${{__P({name},{default})}}"


@dataclass(frozen=True)
class Kind:
    """One message type: how its rows become a request body."""

    name: str  # sms | email
    title: str
    columns: tuple[str, ...]
    body: str  # raw JSON body with ${column} references


SMS: Final = Kind(
    "sms",
    "SMS",
    ("phone", "text", "provider", "expected_status"),
    '{"phone": "${phone}", "text": "${text}"}',
)
EMAIL: Final = Kind(
    "email",
    "Email",
    ("subject", "body", "recipients", "provider", "expected_status"),
    '{"subject": "${subject}", "body": "${body}", "recipients": ${recipients}}',
)


# --- XML -------------------------------------------------------------------------------


def _string(name: str, value: str) -> str:
    return f"<stringProp name={quoteattr(name)}>{escape(value)}</stringProp>"


def _bool(name: str, value: bool) -> str:
    return f'<boolProp name="{name}">{"true" if value else "false"}</boolProp>'


def _element(tag: str, gui: str, name: str, props: list[str], comment: str = "") -> str:
    lines = [
        f'<{tag} guiclass="{gui}" testclass="{tag}" testname={quoteattr(name)} enabled="true">'
    ]
    if comment:
        lines.append("  " + _string("TestPlan.comments", comment))
    lines += ["  " + p for p in props]
    lines.append(f"</{tag}>")
    return "\n".join(lines)


def _argument(name: str, value: str) -> str:
    return "\n".join(
        [
            f'<elementProp name={quoteattr(name)} elementType="Argument">',
            "  " + _string("Argument.name", name),
            "  " + _string("Argument.value", value),
            "  " + _string("Argument.metadata", "="),
            "</elementProp>",
        ]
    )


def _indent(text: str, level: int) -> str:
    pad = "  " * level
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _tree(pairs: list[tuple[str, list[tuple[str, list]]]]) -> str:  # type: ignore[type-arg]
    """JMeter's layout: each element is followed by a <hashTree> of its children."""
    out = []
    for element, children in pairs:
        out.append(element)
        if children:
            out.append("<hashTree>")
            out.append(_indent(_tree(children), 1))
            out.append("</hashTree>")
        else:
            out.append("<hashTree/>")
    return "\n".join(out)


def _user_variables() -> list[str]:
    variables = []
    for route in ROUTES:
        variables.append(_argument(f"suffix_{route}", SUFFIX[route]))
        for expected, accepted in ACCEPT[route].items():
            variables.append(_argument(f"accept_{route}_{expected}", accepted))
    return variables


def _test_plan(title: str, comment: str) -> str:
    udv = "\n".join(
        [
            '<elementProp name="TestPlan.user_defined_variables" elementType="Arguments" '
            'guiclass="ArgumentsPanel" testclass="Arguments" testname="User Defined Variables" '
            'enabled="true">',
            '  <collectionProp name="Arguments.arguments">',
            _indent("\n".join(_user_variables()), 2),
            "  </collectionProp>",
            "</elementProp>",
        ]
    )
    return _element(
        "TestPlan",
        "TestPlanGui",
        title,
        [
            _bool("TestPlan.functional_mode", False),
            _bool("TestPlan.serialize_threadgroups", False),
            *udv.splitlines(),
            _string("TestPlan.user_define_classpath", ""),
        ],
        comment,
    )


def _headers() -> str:
    headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
        # Every request is a new notification: a unique key lets the simulator's
        # ledger (and a deduplicating gateway) tell retries from new messages.
        ("Idempotency-Key", "${__UUID}"),
    ]
    lines = ['<collectionProp name="HeaderManager.headers">']
    for name, value in headers:
        lines += [
            f'  <elementProp name="{name}" elementType="Header">',
            "    " + _string("Header.name", name),
            "    " + _string("Header.value", value),
            "  </elementProp>",
        ]
    lines.append("</collectionProp>")
    return _element("HeaderManager", "HeaderPanel", "JSON headers", lines)


def _thread_group(kind: Kind) -> str:
    loop = [
        '<elementProp name="ThreadGroup.main_controller" elementType="LoopController" '
        'guiclass="LoopControlPanel" testclass="LoopController" testname="Loop Controller" '
        'enabled="true">',
        "  " + _bool("LoopController.continue_forever", False),
        "  " + _string("LoopController.loops", "-1"),
        "</elementProp>",
    ]
    return _element(
        "ThreadGroup",
        "ThreadGroupGui",
        f"{kind.title} senders",
        [
            _string("ThreadGroup.on_sample_error", "continue"),
            *loop,
            _string("ThreadGroup.num_threads", prop(f"{kind.name}_threads")),
            _string("ThreadGroup.ramp_time", prop("rampup")),
            _bool("ThreadGroup.scheduler", True),
            _string("ThreadGroup.duration", prop("duration")),
            _string("ThreadGroup.delay", "0"),
        ],
        f"Loops over {kind.name}.csv until the duration is over.",
    )


def _csv(kind: Kind) -> str:
    return _element(
        "CSVDataSet",
        "TestBeanGUI",
        f"{kind.title} rows",
        [
            _string("delimiter", CSV_DELIMITER),
            _string("fileEncoding", "UTF-8"),
            _string("filename", prop(f"{kind.name}_csv")),
            _bool("quotedData", False),
            _bool("recycle", True),
            _string("shareMode", "shareMode.all"),
            _bool("stopThread", False),
            # Empty: the file's first line names the columns.
            _string("variableNames", ""),
        ],
        f"Columns: {CSV_DELIMITER.join(kind.columns)} (first line). "
        "expected_status is 200 for a valid message, 400 for one the gateway must refuse.",
    )


def _sampler(kind: Kind) -> str:
    body = [
        '<elementProp name="HTTPsampler.Arguments" elementType="Arguments">',
        '  <collectionProp name="Arguments.arguments">',
        '    <elementProp name="" elementType="HTTPArgument">',
        "      " + _bool("HTTPArgument.always_encode", False),
        "      " + _string("Argument.value", kind.body),
        "      " + _string("Argument.metadata", "="),
        "    </elementProp>",
        "  </collectionProp>",
        "</elementProp>",
    ]
    route = prop("route")
    path = prop(f"{kind.name}_path") + f"${{__eval(${{__V(suffix_{route})}})}}"
    return _element(
        "HTTPSamplerProxy",
        "HttpTestSampleGui",
        f"{kind.name} {route} expect ${{expected_status}}",
        [
            _bool("HTTPSampler.postBodyRaw", True),
            *body,
            _string("HTTPSampler.domain", prop("host")),
            _string("HTTPSampler.port", prop("port")),
            _string("HTTPSampler.protocol", prop("protocol")),
            _string("HTTPSampler.contentEncoding", "UTF-8"),
            _string("HTTPSampler.path", path),
            _string("HTTPSampler.method", "POST"),
            _bool("HTTPSampler.follow_redirects", False),
            _bool("HTTPSampler.auto_redirects", False),
            _bool("HTTPSampler.use_keepalive", True),
            _bool("HTTPSampler.DO_MULTIPART_POST", False),
            _string("HTTPSampler.connect_timeout", prop("connect_timeout")),
            _string("HTTPSampler.response_timeout", prop("response_timeout")),
        ],
        "The label carries the row's expected status for jmeter/summarize.py.",
    )


def _assertion() -> str:
    accepted = f"${{__V(accept_{prop('route')}_${{expected_status}})}}"
    return _element(
        "ResponseAssertion",
        "AssertionGui",
        "status is what the row expects on this route",
        [
            '<collectionProp name="Asserion.test_strings">',
            "  " + _string("status", accepted),
            "</collectionProp>",
            _string("Assertion.test_field", "Assertion.response_code"),
            # The assertion alone decides success, so an expected 400 or a
            # transparent route's 500 is not counted as a failure by JMeter.
            _bool("Assertion.assume_success", True),
            '<intProp name="Assertion.test_type">1</intProp>',  # 1 = matches (whole code)
        ],
        "Valid rows: 200 on the virtual route, 200 or 500 (provider failure) on the "
        "transparent ones. Invalid rows: 400 everywhere.",
    )


def plan(title: str, kinds: list[Kind]) -> str:
    comment = (
        "Generated by jmeter/plans.py; see docs/loadtesting.md. Properties: "
        + ", ".join(PROPERTIES)
        + "."
    )
    groups = [
        (_thread_group(kind), [(_csv(kind), []), (_sampler(kind), [(_assertion(), [])])])
        for kind in kinds
    ]
    body = _tree([(_test_plan(title, comment), [(_headers(), []), *groups])])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<jmeterTestPlan version="1.2" properties="2.8" jmeter="2.13">\n'
        "  <hashTree>\n" + _indent(body, 2) + "\n  </hashTree>\n</jmeterTestPlan>\n"
    )


PLANS: Final = {
    "sms.jmx": ("SMS through the notification gateway", [SMS]),
    "email.jmx": ("Email through the notification gateway", [EMAIL]),
    "notifications.jmx": ("SMS and email through the notification gateway", [SMS, EMAIL]),
}


# --- Data ------------------------------------------------------------------------------

ROWS: Final = 100
INVALID_EVERY: Final = 10  # one row in ten is invalid: a 10% share of expected 400s

SMS_TEXTS: Final = (
    "Your OTP is 481516. It expires in 5 minutes.",
    "Your parcel BD-20931 is out for delivery today.",
    "Payment of BDT 1250.00 received. Thank you!",
    "Reminder: your appointment is tomorrow at 10:30.",
    "আপনার ওটিপি 271828। কাউকে বলবেন না।",
    "Your account balance is low. Recharge now to stay connected.",
    "Welcome aboard! Reply HELP for support.",
    "Flight BG-084 boards at gate 7 at 14:20.",
)
INVALID_SMS: Final = (  # (phone, text): each refused by the seed's validation
    ("01212345678", "Operator code 012 does not exist."),
    ("0171234567", "One digit short."),
    ("017123456789", "One digit too many."),
    ("+91 01712345678", "Wrong country prefix."),
    ("8801712345", "Prefixed but too short."),
    ("", "Missing phone number."),
    ("phone-number", "Not a number at all."),
    ("01712345678", "   "),
    ("01912345678", ""),
    ("+8801012345678", "Operator code 010 does not exist."),
)
EMAIL_SUBJECTS: Final = (
    "Your receipt",
    "Password reset requested",
    "Weekly digest",
    "Delivery update",
    "আপনার অর্ডার নিশ্চিত হয়েছে",
    "Security alert: new sign-in",
)
EMAIL_BODIES: Final = (
    "Thanks for your order. Your receipt is attached.",
    "Someone asked to reset your password. Ignore this mail if it was not you.",
    "Here is what happened this week.",
    "Your parcel will arrive tomorrow between 9:00 and 12:00.",
    "ধন্যবাদ! আপনার অর্ডার শীঘ্রই পাঠানো হবে।",
)
INVALID_EMAIL: Final = (  # (subject, body, recipients JSON): each refused
    ("", "Subject is missing.", '["ops@example.com"]'),
    ("Blank body", "   ", '["ops@example.com"]'),
    ("No recipients", "The list is empty.", "[]"),
    ("Recipients not a list", "A string is not a list.", '"ops@example.com"'),
    ("Bad address", "No at sign.", '["ops.example.com"]'),
    ("Bad address", "No dot in the domain.", '["ops@example"]'),
    ("Bad address", "A space inside.", '["ops team@example.com"]'),
    ("One bad of two", "The second is wrong.", '["ops@example.com", "sales@@example.com"]'),
    ("   ", "Blank subject.", '["ops@example.com"]'),
    ("Null recipients", "null is not a list.", "null"),
)


def _valid_phone(rng: random.Random) -> str:
    number = f"01{rng.choice('3456789')}{rng.randrange(10**8):08d}"
    return rng.choice(("", "88", "+88")) + number


def _valid_recipients(rng: random.Random) -> str:
    names = ("ops", "sales", "billing", "support", "rahim.uddin", "karim+alerts", "nadia_k")
    domains = ("example.com", "example.org", "example.net", "mail.example.com.bd")
    count = rng.choice((1, 1, 1, 2, 3))
    addresses = [f"{rng.choice(names)}@{rng.choice(domains)}" for _ in range(count)]
    return "[" + ", ".join(f'"{a}"' for a in addresses) + "]"


def sms_rows(seed: int = 8071) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(ROWS):
        provider = str(i % 3 + 1)
        if i % INVALID_EVERY == INVALID_EVERY - 1:
            phone, text = INVALID_SMS[(i // INVALID_EVERY) % len(INVALID_SMS)]
            rows.append([phone, text, provider, "400"])
        else:
            rows.append([_valid_phone(rng), rng.choice(SMS_TEXTS), provider, "200"])
    return rows


def email_rows(seed: int = 8091) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(ROWS):
        provider = str(i % 3 + 1)
        if i % INVALID_EVERY == INVALID_EVERY - 1:
            subject, body, recipients = INVALID_EMAIL[(i // INVALID_EVERY) % len(INVALID_EMAIL)]
            rows.append([subject, body, recipients, provider, "400"])
        else:
            rows.append(
                [
                    rng.choice(EMAIL_SUBJECTS),
                    rng.choice(EMAIL_BODIES),
                    _valid_recipients(rng),
                    provider,
                    "200",
                ]
            )
    return rows


def csv_text(kind: Kind, rows: list[list[str]]) -> str:
    lines = [CSV_DELIMITER.join(kind.columns)]
    for row in rows:
        for column, cell in zip(kind.columns, row, strict=True):
            # The plan splits lines on "|" and puts cells into the JSON body as they
            # are: inside quotes, except recipients, which is JSON already.
            quoted = column != "recipients"
            if CSV_DELIMITER in cell or "\\" in cell or (quoted and '"' in cell):
                raise ValueError(f"{column} {cell!r} cannot go into {kind.name}.csv")
        lines.append(CSV_DELIMITER.join(row))
    return "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {HERE / name: plan(title, kinds) for name, (title, kinds) in PLANS.items()}
    files[HERE / "messages" / "sms.csv"] = csv_text(SMS, sms_rows())
    files[HERE / "messages" / "email.csv"] = csv_text(EMAIL, email_rows())
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    for path in stale:
        print(f"stale: {path} (run python3 jmeter/plans.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
