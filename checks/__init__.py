"""Probes run by `lbcheck`: one module per thing we look at."""
