"""The gateway's benchmarks, each one command run from the project root:

    .venv/bin/python -m bench.overhead      # pass-through cost: gateway vs bare proxy vs nginx
    .venv/bin/python -m bench.delivery      # the policy engine's delivery evidence
    .venv/bin/python -m bench.load_curve    # latency against offered load, to saturation

`make bench` runs all three (`make bench-overhead`, `bench-delivery`, `bench-load` one
each); `--quick` makes any of them a 30- to 60-second smoke run whose reports go to the
git-ignored .bench-tmp/quick/. Each starts and always stops its own simulator, gateways
and proxies on free loopback ports, and writes its table and plot under docs/bench/.
`stats` holds the pure arithmetic (tested in tests/bench/), `stack` the processes,
`loadgen` the load generators.
"""
