"""Benchmarks behind `bin/bench`: each module measures one thing against a baseline from the
same run."""
