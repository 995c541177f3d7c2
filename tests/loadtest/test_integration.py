"""One real, bounded JMeter run through a real simulator and gateway on loopback.

Runs `jmeter/loadtest-stack jmeter/run` exactly as `make loadtest` does, for 5 s
on the transparent routes, and reads the JTL it wrote. The simulator fails 20%
of sends instead of the seed's 50%: enough 500s to check that they are counted
as expected provider failures, while a run of 10 failures in a row (which opens
the passthrough policy's breaker, see docs/loadtesting.md) stays out of reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loadtest.conftest import JMETER_DIR, ROOT, load_tool
from tests.support.tools import missing

summarize = load_tool("summarize")
xstream_fix = load_tool("xstream_fix")

APT = "apt-get install -y --no-install-recommends jmeter jmeter-http default-jdk-headless"
VENV = Path(sys.prefix)
RUN_ARGS = ("--plan", "notifications", "--route", "transparent", "--duration", "5")
RUN_ARGS += ("--threads", "2", "--rampup", "1")


def _skip_reason() -> str | None:
    if shutil.which("jmeter") is None:
        return f"no jmeter command (CI installs it: {APT})"
    home = xstream_fix.jmeter_home("jmeter")
    if home is not None and xstream_fix.needs_fix(xstream_fix.jmeter_version(home)):
        if shutil.which("javac") is None:
            return f"JMeter 2.x needs javac for its XStream fix ({APT})"
        if not (home / "lib" / "ext" / "ApacheJMeter_http.jar").exists():
            return f"JMeter has no HTTP sampler ({APT})"
    for tool in ("gateway", "gateway-sim"):
        if not (VENV / "bin" / tool).exists():
            return f"{VENV}/bin/{tool} missing: run make install"
    return None


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_jmeter_run_through_simulator_and_gateway(tmp_path: Path) -> None:
    if (reason := _skip_reason()) is not None:
        missing(reason)
    env = {
        **os.environ,
        "VENV": str(VENV),
        "RESULTS_DIR": str(tmp_path),
        "SIM_ARGS": "--seed 7",  # the seed contract: half of all sends fail
        "GATEWAY_CONFIG": str(ROOT / "gateway.yaml"),
    }
    env.pop("GATEWAY_PORT", None)
    done = subprocess.run(
        [str(JMETER_DIR / "loadtest-stack"), str(JMETER_DIR / "run"), *RUN_ARGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    output = done.stdout + done.stderr
    jtl = tmp_path / "results.jtl"
    assert jtl.exists(), f"no JTL (exit {done.returncode}):\n{output}"
    summary = summarize.summarize_jtl(jtl)
    assert summary.samples > 0, output
    assert summary.unexpected == 0, "\n".join(summary.report())
    assert summary.outcomes[summarize.Outcome.OK] > 0
    assert summary.outcomes[summarize.Outcome.INVALID_REFUSED] > 0
    assert summary.outcomes[summarize.Outcome.PROVIDER_FAILURE] > 0
    assert {label.split()[0] for label in summary.by_label} == {"sms", "email"}
    assert done.returncode == 0, output
    summary_lines = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert summary_lines == [summary.summary_line()], output
    # The stack stopped both processes.
    assert "stopped simulator and gateway" in done.stdout
