"""gateway-sim: the seed's six notification providers, played from one process.

By default it answers exactly like the Express server named in the
specification; opt-in knobs add the latency, outages, hangs, resets and
throttling a real provider has, and a ledger counts deliveries by key so
duplicate sends can be measured. See docs/simulator.md.
"""

from simulator.knobs import KnobError, Knobs
from simulator.providers import PROVIDERS, Provider

__all__ = ["PROVIDERS", "KnobError", "Knobs", "Provider"]
