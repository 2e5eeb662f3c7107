"""keepalived's live state: asking the running daemon for its dumps (parsers to come)."""
