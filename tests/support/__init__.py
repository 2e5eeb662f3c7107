"""Real parts for tests, the demo and the benchmark: haproxy and web servers on loopback."""
