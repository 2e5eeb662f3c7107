"""keepalived.conf text → a tree of statements, each knowing its file and line.

The grammar, as keepalived's lib/parser.c reads it: each line first as read_line() makes it
(lines.py: comments, `@ID` / `@^ID` lines for one host, `$NAME` parameters), then
whitespace-separated words; double-quoted strings are one word; `include GLOB` splices files
in (relative paths against the including file's directory); `{` and `}` open and close a
block (glued to a word or not; an opening brace may stand on its own line) — but only after
a keyword keepalived gives a block (its keyword table, keywords.py): after any other word it
ignores the `{` ('Unexpected '{' - ignoring'), so what follows stays at the same level and
the `}` written to close it closes the enclosing block. Inside a block of values (addresses,
names) a `{` opens nothing either. Unknown keywords are kept: the tree is the grammar, the
model decides what they mean.

Strict by default (the first problem raises KeepalivedConfError). Given a ``problems`` list,
parsing goes on the way keepalived does — an extra `}` or a `{` opening nothing is skipped, a
block still open at the end is closed, an unterminated quote runs to the end of the line, a
missing, unreadable or looping include is skipped — and each problem is recorded there with
its file and line. Only an unreadable main file still raises.

What keepalived reads is whatever its files say, so the reading is bounded (it runs as root
in lbnotify, and lint reads any file it is pointed at): only regular files are read (symlinks
followed, as keepalived does; a FIFO, device or directory is refused without being opened, an
executable include skipped as keepalived skips it), each at most MAX_FILE_BYTES and each read
once however often it is included; in all at most MAX_TOTAL_BYTES of text (repeats and `$`
expansions counted), MAX_INCLUSIONS included files, MAX_LINES statement lines and MAX_WORDS
words (each statement costs lint's rules about 1 KB), includes MAX_INCLUDE_DEPTH deep, blocks
MAX_BLOCK_DEPTH deep, MAX_GLOB_ENTRIES directory entries listed by include globs.
A limit reached is one problem naming it; what lies past it is not read. Every step is linear
in what was read.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from lbcheck.keepalived_conf.keywords import KEYWORDS, VALUES, block_of
from lbcheck.keepalived_conf.lines import Parameters, decomment, host_config_id, statements
from lbcheck.keepalived_conf.source import read_config_file

MIB = 1 << 20
# Real keepalived.conf files, even with thousands of virtual_servers, are a few MiB: these
# limits are far above any of them and still keep lint (and lbnotify, as root) to a few hundred
# MB of memory and seconds of CPU on the worst input (a 16 MiB file of one-word lines: ~6 s,
# under 300 MB; tests/unit/test_lint_hostile.py runs lint under a 1 GiB address-space limit).
MAX_FILE_BYTES = 16 * MIB
MAX_TOTAL_BYTES = 64 * MIB  # every inclusion and `$NAME` expansion counted again
MAX_INCLUSIONS = 10_000  # a conf.d of a few hundred files is large; a file included twice: 2
MAX_INCLUDE_DEPTH = 20
MAX_LINES = 250_000  # statements; the largest real configs have well under 100,000
MAX_WORDS = 1_000_000  # each line's words are cut at the budget, even on one 16 MiB line
MAX_BLOCK_DEPTH = 100  # keepalived's deepest blocks are 4 levels; only its table's nest now
MAX_GLOB_ENTRIES = 100_000  # directory entries listed by include globs (`/*/*/*` walks /proc)
MAX_PROBLEMS = 1_000
# One token per match: a brace, a word (quoted parts glued to the rest), or blanks (the line
# is decommented already). Possessive quantifiers: a long line cannot make the regex
# backtrack.
_TOKEN = re.compile(r'([{}])|((?:[^\s{}"]++|"[^"]*+"?+)++)|\s++')


class KeepalivedConfError(Exception):
    """The file cannot be read or is not keepalived's grammar; the message has file:line.

    Line 0 is the file as a whole (it cannot be read): the message then names the file
    itself, and a ``file:0:`` prefix would only repeat it.
    """

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}" if line else message)
        self.file = file
        self.line = line


class Problem(NamedTuple):
    """Input keepalived reads around (with a complaint), recorded instead of raised."""

    file: str
    line: int
    message: str
    severity: str  # error: keepalived -t fails or the meaning changes; warning: it goes on


class Node(NamedTuple):
    keyword: str
    args: tuple[str, ...]
    children: tuple[Node, ...]
    file: str
    line: int
    condition: str = ""  # `@id` / `@^id`: the line applies on some hosts only

    def find(self, keyword: str) -> list[Node]:
        return [c for c in self.children if c.keyword == keyword]

    def first(self, keyword: str) -> Node | None:
        return next((c for c in self.children if c.keyword == keyword), None)


class _Line(NamedTuple):
    words: list[str]
    file: str
    line: int
    condition: str = ""


class _Sink:
    """Where problems go: raised (strict) or appended to the caller's list (tolerant), each
    once (a file included a thousand times has its problem once), at most MAX_PROBLEMS."""

    def __init__(self, problems: list[Problem] | None) -> None:
        self.problems = problems
        self.seen: set[tuple[str, int, str]] = set()

    def __call__(self, file: str, line: int, message: str, severity: str = "error") -> None:
        if self.problems is None:
            raise KeepalivedConfError(file, line, message)
        key = (file, line, message)
        if key in self.seen or len(self.seen) > MAX_PROBLEMS:
            return
        self.seen.add(key)
        if len(self.seen) > MAX_PROBLEMS:
            self.problems.append(Problem(file, line, f"more than {MAX_PROBLEMS:,} problems: "
                                         "lint lists no more (its limit)", "warning"))
            return
        self.problems.append(Problem(file, line, message, severity))


class _Exhausted(Exception):
    """A `$NAME` expansion went past MAX_TOTAL_BYTES (raised out of the expansion to stop it)."""


def parse_file(path: str, problems: list[Problem] | None = None,
               config_id: str | None = None) -> list[Node]:
    """The top-level statements of ``path`` and everything it includes, as keepalived reads
    them on the host whose config id is ``config_id`` (default: this host's, as keepalived's
    own default)."""
    sink = _Sink(problems)
    reader = _Reader(sink, config_id)
    try:
        text, key, mode = reader.read(path)
    except (OSError, ValueError) as exc:  # the main file: nothing to lint, whatever the mode
        raise KeepalivedConfError(path, 0, f"cannot read {path}: {_why(exc)}") from None
    if mode & 0o111:
        sink(path, 0, f"{path} is executable: keepalived refuses to start with it ('not a "
             "regular non-executable file')")
    reader.spliced = len(text)
    return _build(reader.lines_of(text, path, os.path.dirname(path), 0, (key,)), sink)


def parse_text(text: str, filename: str = "<string>", problems: list[Problem] | None = None,
               config_id: str | None = None) -> list[Node]:
    base = os.path.dirname(filename) if filename != "<string>" else os.getcwd()
    sink = _Sink(problems)
    return _build(_Reader(sink, config_id).lines_of(text, filename, base, 0, ()), sink)


def _why(exc: Exception) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


class _Reader:
    """One reading of a config: the files read (by device and inode: each read once), the
    globs expanded, and the budgets every include and expansion draws on."""

    def __init__(self, sink: _Sink, config_id: str | None) -> None:
        self.sink = sink
        self.config_id = host_config_id() if config_id is None else config_id
        self.params = Parameters(self.spend, self.problem)
        self.where = ("", 0)  # the line being read: where a parameter's problem is
        self.files: dict[tuple[int, int], str] = {}
        self.globs: dict[str, list[str]] = {}
        self.inclusions = 0
        self.spliced = 0  # characters read in, repeats and expansions included
        self.words = 0
        self.lines = 0
        self.entries = 0  # directory entries listed by globs
        self.exhausted = ""  # the first limit reached: no include is expanded after it
        self.stopped = False  # MAX_WORDS or MAX_TOTAL_BYTES reached: nothing more is read

    def limit(self, file: str, line: int, name: str, message: str) -> None:
        """A budget ran out: one problem naming the limit; later includes are skipped."""
        if not self.exhausted:
            self.exhausted = name
            self.sink(file, line, f"{message}: lint reads no further (its limit {name}; "
                      "keepalived has none)")

    def read(self, path: str) -> tuple[str, tuple[int, int], int]:
        """(text, (device, inode), mode); raises OSError (NotRegular, TooBig…)."""
        info = os.stat(path)
        key = (info.st_dev, info.st_ino)
        text = self.files.get(key)
        if text is None:
            data, info = read_config_file(path, MAX_FILE_BYTES)
            key = (info.st_dev, info.st_ino)
            text = self.files[key] = data.decode("utf-8", errors="replace")
        return text, key, info.st_mode

    def lines_of(self, text: str, filename: str, base: str, depth: int,
                 chain: tuple[tuple[int, int], ...]) -> Iterator[_Line]:
        params = self.params
        for number, raw in enumerate(text.split("\n"), 1):
            if self.stopped:
                return
            raw = raw.split("\0", 1)[0].rstrip("\r")  # fgets: a NUL ends the line
            self.where = (filename, number)
            line, _open_quote = decomment(raw)
            if params.continuing is not None:  # a multi-line `$NAME=` definition
                params.go_on(raw, line)
                continue
            if not line:
                continue
            try:
                found = list(statements(line, self.config_id, params, base))
            except _Exhausted:
                self.limit(filename, number, "MAX_TOTAL_BYTES",
                           f"$ parameters expand past {MAX_TOTAL_BYTES // MIB} MiB in all")
                self.stopped = True
                return
            for statement in found:
                words = _words(statement, filename, number, self.sink,
                               MAX_WORDS - self.words)
                if not words:
                    continue
                self.words += len(words)
                self.lines += 1
                if self.words > MAX_WORDS or self.lines > MAX_LINES:
                    name, count, what = (("MAX_WORDS", MAX_WORDS, "words")
                                         if self.words > MAX_WORDS
                                         else ("MAX_LINES", MAX_LINES, "statement lines"))
                    self.limit(filename, number, name, f"more than {count:,} {what} in all")
                    self.stopped = True
                    return
                if words[0] == "include":
                    yield from self.include(words, filename, base, depth, number, chain)
                    continue
                yield _Line(words, filename, number, self.condition_of(raw))
        params.continuing = None  # keepalived would read on into the next file; lint stops

    def condition_of(self, raw: str) -> str:
        """The `@ID` / `@^ID` a kept line was written with (it applies on some hosts)."""
        word = raw.lstrip(" \t").split(None, 1)
        return word[0] if word and word[0].startswith("@") else ""

    def spend(self, size: int) -> None:
        self.spliced += size
        if self.spliced > MAX_TOTAL_BYTES:
            raise _Exhausted

    def problem(self, severity: str, message: str) -> None:
        self.sink(*self.where, message, severity)

    def include(self, words: list[str], filename: str, base: str, depth: int, number: int,
                chain: tuple[tuple[int, int], ...]) -> Iterator[_Line]:
        if len(words) < 2:
            self.sink(filename, number, "include needs a path")
            return
        if depth >= MAX_INCLUDE_DEPTH:
            self.sink(filename, number, f"includes nested deeper than {MAX_INCLUDE_DEPTH} "
                      "levels: lint reads no deeper (its limit MAX_INCLUDE_DEPTH; keepalived "
                      "goes on until it runs out of file descriptors)")
            return
        if self.exhausted:
            return
        pattern = words[1] if os.path.isabs(words[1]) else os.path.join(base, words[1])
        matches = self.glob(pattern, filename, number)
        if not matches and not glob.has_magic(pattern):
            self.sink(filename, number, f"cannot read include {words[1]}: No such file or "
                      "directory (keepalived skips it: 'Config files missing')", "warning")
        for match in matches:
            if self.inclusions >= MAX_INCLUSIONS:
                self.limit(filename, number, "MAX_INCLUSIONS",
                           f"more than {MAX_INCLUSIONS:,} files included in all (a file "
                           "included twice counts twice: an include fan-out?)")
            if self.exhausted:
                return
            yield from self.included(match, depth + 1, filename, number, chain)

    def included(self, path: str, depth: int, where: str, line: int,
                 chain: tuple[tuple[int, int], ...]) -> Iterator[_Line]:
        try:
            text, key, mode = self.read(path)
        except (OSError, ValueError) as exc:
            self.sink(where, line, f"cannot read include {path}: {_why(exc)} (keepalived "
                      "skips it)", "warning")
            return
        if key in chain:  # keepalived opens it again until it runs out of descriptors
            self.sink(where, line, f"include {path} includes itself (an include loop): "
                      "keepalived reads it again and again until it runs out of file "
                      "descriptors")
            return
        if mode & 0o111:
            self.sink(where, line, f"include {path} is executable: keepalived skips it ('not "
                      "a regular non-executable file'), so nothing in it is read")
            return
        if self.spliced + len(text) > MAX_TOTAL_BYTES:
            self.limit(where, line, "MAX_TOTAL_BYTES",
                       f"more than {MAX_TOTAL_BYTES // MIB} MiB of config text in all (a file "
                       "included twice counts twice)")
            return
        self.inclusions += 1
        self.spliced += len(text)
        yield from self.lines_of(text, path, os.path.dirname(path), depth, (*chain, key))

    def glob(self, pattern: str, file: str, line: int) -> list[str]:
        """glob(3) as keepalived calls it, sorted; each pattern expanded once."""
        if not glob.has_magic(pattern):
            return [pattern] if os.path.lexists(pattern) else []
        found = self.globs.get(pattern)
        if found is None:
            found = self.globs[pattern] = sorted(self.walk(pattern, file, line))
        return found

    def walk(self, pattern: str, file: str, line: int) -> list[str]:
        """Component by component, listing at most MAX_GLOB_ENTRIES directory entries in all
        (`include /*/*/*/*.conf` would walk /proc and every process's root)."""
        parts = [part for part in pattern.split("/") if part]
        found = ["/" if pattern.startswith("/") else ""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1 and not pattern.endswith("/")
            matched = []
            for directory in found:
                if not glob.has_magic(part):
                    candidate = os.path.join(directory, part)
                    if os.path.lexists(candidate) if last else os.path.isdir(candidate):
                        matched.append(candidate)
                    continue
                for name in self.listing(directory or ".", file, line):
                    if name.startswith(".") and not part.startswith("."):
                        continue  # glob(3): a wildcard does not match a leading dot
                    candidate = os.path.join(directory, name)
                    if fnmatch.fnmatchcase(name, part) and (last or os.path.isdir(candidate)):
                        matched.append(candidate)
            found = matched
        return found if parts else []

    def listing(self, directory: str, file: str, line: int) -> list[str]:
        names: list[str] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if self.entries >= MAX_GLOB_ENTRIES:
                        self.limit(file, line, "MAX_GLOB_ENTRIES",
                                   f"include globs list more than {MAX_GLOB_ENTRIES:,} "
                                   "directory entries")
                        break
                    self.entries += 1
                    names.append(entry.name)
        except OSError:
            return []
        return names


def _words(raw: str, filename: str, number: int, sink: _Sink, budget: int) -> list[str]:
    """Split one decommented line: quotes make one word (glued to what touches them), braces
    stand alone. One regex pass: linear in the line; past ``budget`` words it
    stops (the caller reports the limit)."""
    words: list[str] = []
    for match in _TOKEN.finditer(raw):
        brace, word = match.groups()
        if len(words) > budget:
            break
        if brace:
            words.append(brace)
        elif word is not None:
            if '"' in word:
                if word.count('"') % 2:  # keepalived complains; the rest of the line is the
                    sink(filename, number, "unterminated quoted string")  # string
                word = word.replace('"', "")
            words.append(word)
    return words


class _Frame(NamedTuple):
    opener: _Line
    children: list[Node]
    path: str  # e.g. vrrp_instance/authentication: what keyword table applies inside
    values: bool  # a block of values (addresses, names): a `{` in it opens nothing


def _build(lines: Iterable[_Line], sink: _Sink) -> list[Node]:
    """Braces → nesting, in one pass over the words, as keepalived's process_stream() nests:
    a `{` opens a block only after a keyword keepalived gives one. Blocks deeper than
    MAX_BLOCK_DEPTH are skipped, braces still counted."""
    root: list[Node] = []
    stack: list[_Frame] = []
    siblings = root
    skipped = 0  # levels open beyond MAX_BLOCK_DEPTH: their words are dropped
    # A keyword of a keyword block at the end of its line opens the block at once
    # (process_stream()'s bob_needed): a '{' first on the next line is taken as its, anything
    # else there is "Missing '{' at beginning of configuration block" and read inside it.
    awaiting: _Line | None = None
    for entry in lines:
        words = entry.words
        start, count = 0, len(words)
        while start < count:
            end = start
            while end < count and words[end] != "{" and words[end] != "}":
                end += 1
            statement = words[start:end]
            brace = words[end] if end < count else ""
            first = start == 0
            start = end + 1
            if skipped:
                skipped += 1 if brace == "{" else -1 if brace == "}" else 0
                continue
            if awaiting is not None:
                opened, awaiting = awaiting, None
                if first and not statement and brace == "{":
                    continue  # the block's '{', on a line of its own
                sink(opened.file, opened.line, f"'{opened.words[0]}' is not followed by '{{': "
                     "keepalived reads the lines after it into its block anyway ('Missing "
                     "'{' at beginning of configuration block')")
            if (not brace and statement and len(stack) < MAX_BLOCK_DEPTH
                    and block_of(stack[-1].path if stack else "", statement[0]) == KEYWORDS
                    and not (stack and stack[-1].values)):
                opener = _Line(statement, entry.file, entry.line, entry.condition)
                path = stack[-1].path if stack else ""
                stack.append(_Frame(opener, [], f"{path}/{opener.words[0]}" if path
                                    else opener.words[0], False))
                siblings = stack[-1].children
                awaiting = opener
                continue
            if brace == "{":
                head = _opener(statement, entry, siblings, stack, sink)
                if head is None:
                    continue
                if len(stack) >= MAX_BLOCK_DEPTH:
                    sink(entry.file, entry.line, f"blocks nested deeper than {MAX_BLOCK_DEPTH}"
                         " levels: lint skips what is inside (its limit MAX_BLOCK_DEPTH)")
                    skipped = 1
                    continue
                path = stack[-1].path if stack else ""
                kind = block_of(path, head.words[0])
                stack.append(_Frame(head, [], f"{path}/{head.words[0]}" if path
                                    else head.words[0], kind == VALUES))
                siblings = stack[-1].children
                continue
            if statement:
                siblings.append(Node(statement[0], tuple(statement[1:]), (), entry.file,
                                     entry.line, entry.condition))
            if brace == "}":
                if not stack:  # keepalived: "Extra '}' found", and reads on
                    sink(entry.file, entry.line, "unexpected '}' (an extra brace closes "
                         "nothing; the block before it may have ended earlier than intended)")
                    continue
                frame = stack.pop()
                siblings = stack[-1].children if stack else root
                siblings.append(_node(frame))
    while stack:  # keepalived: "There are N missing '}'s"; it closes them at the end
        frame = stack.pop()
        sink(frame.opener.file, frame.opener.line,
             f"'{frame.opener.words[0]}' block is never closed")
        siblings = stack[-1].children if stack else root
        siblings.append(_node(frame))
    return root


def _node(frame: _Frame) -> Node:
    opener = frame.opener
    return Node(opener.words[0], tuple(opener.words[1:]), tuple(frame.children), opener.file,
                opener.line, opener.condition)


def _opener(statement: list[str], entry: _Line, siblings: list[Node], stack: list[_Frame],
            sink: _Sink) -> _Line | None:
    """The keyword line a `{` opens, or None where keepalived ignores the `{` (after a
    keyword without a block, inside a block of values, with nothing before it); a statement
    before an ignored `{` stays one, at this level."""
    path = stack[-1].path if stack else ""
    values = bool(stack) and stack[-1].values
    if statement:
        head = _Line(statement, entry.file, entry.line, entry.condition)
    elif siblings and not siblings[-1].children:  # a brace on its own line
        previous = siblings[-1]
        head = _Line([previous.keyword, *previous.args], previous.file, previous.line,
                     previous.condition)
    else:
        sink(entry.file, entry.line, "'{' opens nothing: keepalived ignores it ('Unexpected "
             "'{' - ignoring'), and the '}' meant to close it closes the enclosing block")
        return None
    where = f"'{path.rsplit('/', 1)[-1]}'" if path else "the top level"
    if values:
        sink(entry.file, entry.line, f"'{{' inside {where} opens nothing: keepalived reads "
             f"it as one more value there, and the first '}}' ends {where}")
    elif block_of(path, head.words[0]) is None:
        sink(entry.file, entry.line, f"'{{' after '{head.words[0]}' opens nothing: "
             f"'{head.words[0]}' has no block, so keepalived ignores the '{{' ('Unexpected "
             f"'{{' - ignoring'), reads the lines after it as part of {where}, and the '}}' "
             f"meant to close it closes {where}")
    else:
        if not statement:
            siblings.pop()
        return head
    if statement:
        siblings.append(Node(statement[0], tuple(statement[1:]), (), entry.file, entry.line,
                             entry.condition))
    return None
