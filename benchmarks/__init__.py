"""fastpoll benchmarks: the harness (`python -m benchmarks run`), drivers per system, reports."""
