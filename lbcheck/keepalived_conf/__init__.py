"""A model of keepalived.conf: its grammar, parsed with line numbers kept."""
