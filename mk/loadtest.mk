# Load tests through the gateway (docs/loadtesting.md):
#   make loadtest [DURATION=30] [ROUTE=auto] [PLAN=notifications] [THREADS=4]
#   make locust   [DURATION=30] [ROUTE=auto] [LOCUST_USERS=8] [LOCUST_SPAWN_RATE=4]
# Each starts the provider simulator and the gateway on free loopback ports,
# runs the load for DURATION seconds, stops both, prints a summary whose last
# line starts with SUMMARY, and fails if any unexpected error happened.
# Results and logs: jmeter/results/<timestamp>/.

DURATION ?= 30
ROUTE ?= auto
PLAN ?= notifications
THREADS ?= 4
LOCUST_USERS ?= 8
LOCUST_SPAWN_RATE ?= 4
JMETER ?= jmeter
# Debian's JMeter 2.13 (jmeter-http holds the HTTP sampler and is only
# recommended); javac builds the XStream fix that 2.13 needs on bookworm.
JMETER_APT := jmeter jmeter-http default-jdk-headless
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LOCUST_STAMP := $(VENV)/.locust-installed

.PHONY: loadtest locust jmeter-install locust-install

## JMeter through the gateway for DURATION seconds (installs JMeter if missing).
loadtest: install jmeter-install
	@VENV=$(VENV) DURATION=$(DURATION) ROUTE=$(ROUTE) PLAN=$(PLAN) THREADS=$(THREADS) \
		JMETER=$(JMETER) jmeter/loadtest-stack jmeter/run

## Locust (installed into the venv, not a project dependency) for DURATION seconds.
locust: install locust-install
	@VENV=$(VENV) DURATION=$(DURATION) ROUTE=$(ROUTE) USERS=$(LOCUST_USERS) \
		SPAWN_RATE=$(LOCUST_SPAWN_RATE) jmeter/loadtest-stack jmeter/run-locust

jmeter-install:
	@if ! command -v $(JMETER) >/dev/null 2>&1 || { [ -d /usr/share/jmeter ] && \
		{ [ ! -f /usr/share/jmeter/lib/ext/ApacheJMeter_http.jar ] || \
		  ! command -v javac >/dev/null 2>&1; }; }; then \
		echo "loadtest: installing $(JMETER_APT) from Debian"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $(JMETER_APT); \
	fi

locust-install: $(LOCUST_STAMP)

$(LOCUST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet locust
	@touch $@
