"""The processes a benchmark runs: simulator, gateways, the bare proxy and nginx.

Each `start_*` returns a context manager that waits until the process answers
and always stops it (SIGTERM, then SIGKILL after a grace period), so a benchmark
that fails or is interrupted leaves nothing behind. Everything listens on free
ports of 127.0.0.1; each process writes its output to a file in the run's work
directory (a file never blocks the writer the way a full pipe does).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from bench.stats import Sample, parse_prometheus

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(os.environ.get("BENCH_SOURCE") or PROJECT_ROOT).resolve()
"""The tree whose gateway and simulator run: this one, or another checkout named by
`BENCH_SOURCE` (e.g. `git worktree add /tmp/base HEAD~3` to compare two commits)."""
DOCS = PROJECT_ROOT / "docs" / "bench"
QUICK_OUT = PROJECT_ROOT / ".bench-tmp" / "quick"


def output_dir(*, quick: bool) -> Path:
    """Where reports go: docs/bench/, or for a smoke run a git-ignored directory, so
    that `--quick` never overwrites the published figures."""
    return QUICK_OUT if quick else DOCS


STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
SMS_BODY = b'{"phone":"01712345678","text":"benchmark"}'


class StackError(RuntimeError):
    """A process of the benchmark did not start or misbehaved."""


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that `finally` blocks stop the children."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields), idle


def machine_busy(seconds: float = 1.0) -> float:
    """Share (%) of all CPUs busy over `seconds`, before a benchmark starts anything:
    on a shared machine a busy neighbour skews every number, so runs say so."""
    try:
        total0, idle0 = _cpu_times()
        time.sleep(seconds)
        total1, idle1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return float("nan")
    total = total1 - total0
    return 100 * (1 - (idle1 - idle0) / total) if total else float("nan")


def noise_note(busy: float) -> str:
    """One line for a report: how busy the machine was before the run."""
    warning = " (a neighbour was busy: numbers are pessimistic)" if busy > 25 else ""
    return f"machine {busy:.0f} % busy before the run{warning}"


def revision() -> str:
    """The measured tree's commit, `+dirty` when it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(SOURCE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(SOURCE), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head}{'+dirty' if dirty else ''}"


def machine() -> str:
    """How the report names the machine."""
    return f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory for configs and logs, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def http_json(url: str, body: Any = None, *, method: str | None = None, timeout: float = 10) -> Any:
    """A small JSON call (admin endpoints, metrics); raises StackError on a non-2xx."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise StackError(f"{url}: {exc.code} {exc.read()[:300]!r}") from exc
    content = payload.decode()
    return json.loads(content) if content.lstrip().startswith(("{", "[")) else content


@dataclass
class Process:
    """A child process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def errors(self, limit: int = 5) -> list[str]:
        """The process's error log lines (JSON lines at level error, or tracebacks), each
        cut to its event and the last line of its exception."""
        found: list[str] = []
        lines = self.output(tail=10**8).splitlines()
        for index, line in enumerate(lines):
            if line.startswith("Traceback"):
                # The exception is the first line after the indented frames.
                after = (n for n in lines[index + 1 :] if n and not n.startswith(" "))
                found.append(f"traceback: {next(after, '?')[:300]}")
            elif '"level":"error"' in line or '"level": "error"' in line:
                try:
                    entry = json.loads(line)
                except ValueError:
                    found.append(line[:300])
                    continue
                exception = str(entry.get("exception", "")).strip().splitlines()
                where = entry.get("path", "")
                found.append(f"{entry.get('event')} {where} {exception[-1] if exception else ''}")
            if len(found) >= limit:
                break
        return found

    def children(self) -> list[int]:
        """Direct children (uvicorn's worker processes), from /proc."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def workers(self) -> list[int]:
        """uvicorn's worker processes (multiprocessing spawns them; its resource tracker
        is a child too, and is left out)."""
        found = []
        for pid in self.children():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
        return found

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn(
    name: str,
    command: Sequence[str],
    work: Path,
    *,
    source: Path = SOURCE,
    env: Mapping[str, str] | None = None,
) -> Process:
    """Start `command` in `source` (first on its import path), output to `<work>/<name>.log`."""
    log = work / f"{name}.log"
    path = os.pathsep.join(p for p in (str(source), os.environ.get("PYTHONPATH", "")) if p)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=source,
            env={**os.environ, "PYTHONPATH": path, **(env or {})},
        )
    return Process(name, popen, log)


def wait_until(process: Process, ready: Any, what: str) -> None:
    """Poll `ready()` until true; StackError if the process exits or time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if not process.alive():
            raise StackError(f"{process.name} exited while starting ({what}):\n{process.output()}")
        with contextlib.suppress(OSError, StackError, ValueError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise StackError(f"{process.name} not ready after {STARTUP_TIMEOUT_S}s ({what})")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running(process: Process) -> Iterator[Process]:
    try:
        yield process
    finally:
        process.stop()


# -- the simulator -------------------------------------------------------------------------


@dataclass
class Simulator:
    process: Process
    ports: dict[str, int]

    def base_url(self, provider: str) -> str:
        """`http://127.0.0.1:port` of `sms1`..`email3`."""
        return f"http://127.0.0.1:{self.ports[provider]}"

    def url(self, provider: str) -> str:
        """The provider's send route, e.g. `.../api/sms/provider2` for `sms2`."""
        kind, index = provider[:-1], provider[-1]
        return f"{self.base_url(provider)}/api/{kind}/provider{index}"

    def admin(self, path: str, body: Any = None, *, method: str | None = None) -> Any:
        """An admin call through the first port that accepts connections (a provider
        that is down with `refuse` has none)."""
        last: Exception | None = None
        for name in self.ports:
            try:
                return http_json(self.base_url(name) + path, body, method=method)
            except urllib.error.URLError as exc:
                last = exc
        raise StackError(f"no simulator port answers: {last}")

    def control(self, target: str = "all", **knobs: Any) -> Any:
        return self.admin("/__control", {"target": target, **knobs})

    def reset(self, *, knobs: bool = True) -> None:
        """Clear every ledger; with `knobs`, restore and reseed the startup knobs."""
        self.admin(f"/__reset?scope=all&knobs={int(knobs)}", method="POST")

    def ledger(self, keys: str = "all") -> dict[str, Any]:
        """The process-wide ledger (`scope=all`), keyed by message id."""
        answer: dict[str, Any] = self.admin(f"/__ledger?scope=all&keys={keys}")
        return answer


@contextlib.contextmanager
def start_simulator(work: Path, *args: str) -> Iterator[Simulator]:
    ready = work / "sim-ready.json"
    command = [sys.executable, "-m", "simulator", "--ready-file", str(ready)]
    command += ["--sms-ports", "0,0,0", "--email-ports", "0,0,0", *args]
    with running(spawn("simulator", command, work)) as process:
        wait_until(process, ready.exists, "ready file")
        yield Simulator(process, json.loads(ready.read_text())["ports"])


# -- the gateway ---------------------------------------------------------------------------


def gateway_config(
    sim: Simulator,
    *,
    sms_policy: str = "failover",
    client: str = "aiohttp",
    policies: Mapping[str, Any] | None = None,
    log_level: str = "info",
) -> dict[str, Any]:
    """A gateway.yaml in front of `sim`, with the shipped presets."""
    return {
        "server": {"log_level": log_level},
        "upstream": {"client": client},
        "providers": {
            kind: {f"provider{i}": {"url": sim.base_url(f"{kind}{i}")} for i in (1, 2, 3)}
            for kind in ("sms", "email")
        },
        "policies_dir": str(SOURCE / "policies"),
        "routes": {"transparent": "passthrough", "sms": sms_policy, "email": "failover"},
        "policies": dict(policies or {}),
    }


@dataclass
class Gateway:
    process: Process
    port: int
    workers: int
    config: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self) -> dict[Sample, float]:
        text = http_json(self.url("/metrics"))
        return parse_prometheus(text if isinstance(text, str) else "")

    def serving_pids(self) -> list[int]:
        """The processes that run the app: the workers, or the process itself."""
        return self.process.workers() if self.workers > 1 else [self.process.pid]


@contextlib.contextmanager
def start_gateway(
    work: Path, config: Mapping[str, Any], *, name: str = "gateway", workers: int = 1
) -> Iterator[Gateway]:
    """`gateway serve` with `config`; its JSON request log goes to `<work>/<name>.log`."""
    config_file = work / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config_file)]
    command += ["--port", str(port), "--workers", str(workers)]
    # Its SQLite store (if the config uses one) lives and dies with the run.
    data = {"GATEWAY_DATA_DIR": str(work / f"{name}-data")}
    with running(spawn(name, command, work, env=data)) as process:
        gateway = Gateway(process, port, workers, dict(config))

        def ready() -> bool:
            if http_json(gateway.url("/readyz"), timeout=2)["status"] != "ready":
                return False
            return workers == 1 or len(process.workers()) == workers

        wait_until(process, ready, "/readyz")
        yield gateway


# -- the contenders of the overhead benchmark -----------------------------------------------


@dataclass
class Proxy:
    process: Process
    port: int

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def start_bare_proxy(work: Path, upstream: str) -> Iterator[Proxy]:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_proxy", "--port", str(port)]
    command += ["--upstream", upstream]
    with running(spawn("bare-proxy", command, work, source=PROJECT_ROOT)) as process:
        wait_until(process, lambda: port_open(port), f"port {port}")
        yield Proxy(process, port)


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user}
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    upstream provider {{
        server {upstream};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


@contextlib.contextmanager
def start_nginx(work: Path, upstream: str, *, workers: int = 1) -> Iterator[Proxy]:
    """nginx as a plain reverse proxy with a keep-alive upstream pool."""
    binary = nginx_binary()
    if binary is None:
        raise StackError("nginx is not installed (apt-get install -y nginx)")
    port = free_port()
    authority = urllib.parse.urlsplit(upstream).netloc
    # Worker processes drop to `nobody`, who cannot enter a 0700 temp dir; as root, stay root.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(workers=workers, user=user, work=work, upstream=authority, port=port)
    )
    command = [binary, "-c", str(conf), "-p", str(work), "-e", str(work / "nginx-error.log")]
    with running(spawn("nginx", command, work)) as process:
        wait_until(process, lambda: port_open(port), f"port {port}")
        yield Proxy(process, port)


# -- profiling -----------------------------------------------------------------------------


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")
