"""`lbcheck lint`: keepalived.conf semantics that `keepalived -t` does not check.

Rules are documented in docs/lint.md, one paragraph each, in keepalived's own terms.
"""
