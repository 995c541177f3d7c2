# Benchmarks (docs/benchmarks.md). Each starts its own simulator, gateways and
# proxies on free loopback ports, stops them all, and writes its table and plot
# under docs/bench/. Never run two at once: they share the machine's 2 cores.
#   make bench                 all four, one after the other (about 15 minutes)
#   make bench-overhead        gateway vs bare Python proxy vs nginx (wrk)
#   make bench-delivery        the policy engine's delivery evidence
#   make bench-load            latency against offered load
#   make bench-durable         accept and drain rates, backlog cost, per store (redis-server)
#   make bench-quick           all four as ~30-60 s smoke runs
# BENCH_ARGS is passed to each, e.g. make bench-delivery BENCH_ARGS="--scenarios seed".

BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed
# Plots and profiles only: not dependencies of the gateway.
BENCH_PIP := matplotlib py-spy
# wrk drives the overhead benchmark; nginx is one of its contenders.
BENCH_APT := wrk nginx
BENCH_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bench bench-quick bench-overhead bench-delivery bench-load bench-durable bench-install \
	bench-tools

## All benchmarks, sequentially; tables and plots in docs/bench/.
bench: bench-install bench-tools
	$(PY) -m bench.overhead $(BENCH_ARGS)
	$(PY) -m bench.delivery $(BENCH_ARGS)
	$(PY) -m bench.load_curve $(BENCH_ARGS)
	$(PY) -m bench.durable $(BENCH_ARGS)

bench-quick: bench-install bench-tools
	$(PY) -m bench.overhead --quick
	$(PY) -m bench.delivery --quick
	$(PY) -m bench.load_curve --quick
	$(PY) -m bench.durable --quick

bench-overhead: bench-install bench-tools
	$(PY) -m bench.overhead $(BENCH_ARGS)

bench-delivery: bench-install
	$(PY) -m bench.delivery $(BENCH_ARGS)

bench-load: bench-install
	$(PY) -m bench.load_curve $(BENCH_ARGS)

bench-durable: bench-install bench-tools
	$(PY) -m bench.durable $(BENCH_ARGS)

bench-install: install $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet $(BENCH_PIP)
	@touch $@

bench-tools:
	@if ! command -v wrk >/dev/null 2>&1 || ! { command -v nginx >/dev/null 2>&1 || \
		[ -x /usr/sbin/nginx ]; }; then \
		echo "bench: installing $(BENCH_APT) from Debian"; \
		$(BENCH_SUDO) apt-get update -q && \
		$(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $(BENCH_APT); \
	fi
