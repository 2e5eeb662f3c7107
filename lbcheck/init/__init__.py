"""`lbcheck init`: a keepalived pair written from the operator's addresses, lint-clean by
construction.

One job per module: ``spec`` turns what the operator typed into a typed :class:`PairSpec` (or
one line saying why not), ``releases`` says what a keepalived release can be given (lint's
keyword table), ``design`` makes every choice and keeps its reason beside it, ``render``
writes the files' text, ``output`` puts them on disk. All but ``output`` are pure: the same
inputs give the same bytes.
"""

from __future__ import annotations


class InitError(Exception):
    """What the operator asked cannot work: one line, the CLI's exit 2."""
