"""`lbcheck lint`: keepalived.conf semantics that `keepalived -t` does not check.

Every rule is declared once in lint/registry.py and documented in docs/lint.md ("Lint rules":
the table, then one paragraph each, in keepalived's own terms).
"""
