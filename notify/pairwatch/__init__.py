"""The pair watch: who holds each VIP, asked of the segment every few seconds, paged as a FAULT
is when a VIP is held by two nodes (split brain) or by none (docs/notify.md, "The pair watch").

- :mod:`.tracker` — the pure rules: rounds, settle, trigger, resolve, re-send.
- :mod:`.store` — the last round on disk (restarts, the metrics textfile).
- :mod:`.watch` — the FIFO reader's thread: config, probe, outbox, store, metrics.
"""
