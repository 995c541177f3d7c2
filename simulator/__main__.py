"""`python -m simulator`, the same as `gateway-sim`."""

from simulator.cli import main

main()
