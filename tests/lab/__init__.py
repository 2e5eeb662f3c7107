"""The two-node keepalived lab behind `bin/lab` and tests/e2e (real keepalived, real haproxy)."""
