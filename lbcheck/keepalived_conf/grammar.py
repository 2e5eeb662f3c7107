"""keepalived.conf text → a tree of statements, each knowing its file and line.

The grammar, as keepalived's lib/parser.c reads it: whitespace-separated words; double-quoted
strings are one word; `#` and `!` start a comment outside quotes; `{` and `}` open and close a
block (glued to a word or not; an opening brace may stand on its own line); `include GLOB`
splices files in (relative paths against the including file's directory); `$NAME=value`
defines a word that `$NAME` / `${NAME}` later expand to; `@id` / `@^id` prefix a line that
applies on some hosts only (we keep every such line: a linter should see them all).
Unknown keywords are kept: the tree is the grammar, the model decides what they mean.

Strict by default (the first problem raises KeepalivedConfError). Given a ``problems`` list,
parsing goes on the way keepalived does — an extra `}` or a `{` opening nothing is skipped, a
block still open at the end is closed, an unterminated quote runs to the end of the line, a
missing, unreadable or looping include is skipped — and each problem is recorded there with
its file and line. Only an unreadable main file still raises.
"""

from __future__ import annotations

import glob
import os
import re
from typing import NamedTuple

MAX_INCLUDE_DEPTH = 20
_DEFINE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_EXPAND = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class KeepalivedConfError(Exception):
    """The file cannot be read or is not keepalived's grammar; the message has file:line."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
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
    """Where problems go: raised (strict) or appended to the caller's list (tolerant)."""

    def __init__(self, problems: list[Problem] | None) -> None:
        self.problems = problems

    def __call__(self, file: str, line: int, message: str, severity: str = "error") -> None:
        if self.problems is None:
            raise KeepalivedConfError(file, line, message)
        self.problems.append(Problem(file, line, message, severity))


def parse_file(path: str, problems: list[Problem] | None = None) -> list[Node]:
    """The top-level statements of ``path`` and everything it includes."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:  # the main file: nothing to lint, whatever the mode
        raise KeepalivedConfError(path, 0, f"cannot read {path}: {exc.strerror}") from None
    sink = _Sink(problems)
    return _build(list(_lines_of(text, path, os.path.dirname(path), {}, 0, sink,
                                 (os.path.realpath(path),))), sink)


def parse_text(text: str, filename: str = "<string>",
               problems: list[Problem] | None = None) -> list[Node]:
    base = os.path.dirname(filename) if filename != "<string>" else os.getcwd()
    sink = _Sink(problems)
    return _build(list(_lines_of(text, filename, base, {}, 0, sink, ())), sink)


def _lines(path: str, defines: dict[str, str], depth: int, where: str, line: int, sink: _Sink,
           chain: tuple[str, ...]):
    real = os.path.realpath(path)
    if real in chain:  # keepalived opens it again until it runs out of descriptors
        sink(where, line, f"include {path} includes itself (an include loop): keepalived "
             "reads it again and again until it runs out of file descriptors")
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        sink(where, line, f"cannot read include {path}: {exc.strerror}", "warning")
        return
    yield from _lines_of(text, path, os.path.dirname(path), defines, depth, sink,
                         (*chain, real))


def _lines_of(text: str, filename: str, base: str, defines: dict[str, str], depth: int,
              sink: _Sink, chain: tuple[str, ...]):
    number = 0
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.rstrip().endswith("\\"):  # keepalived joins continued lines
            pending += raw.rstrip()[:-1] + " "
            continue
        raw, pending = pending + raw, ""
        words = _words(raw, filename, number, sink)
        if not words:
            continue
        condition = ""
        if words[0].startswith("@"):  # host-conditional line: keep it, without the prefix
            condition, words = words[0], words[1:]
            if not words:
                continue
        define = _DEFINE.match(" ".join(words))
        if define:
            defines[define.group(1)] = define.group(2).strip()
            continue
        if defines:
            words = [_expand(w, defines) for w in words]
            words = [part for w in words for part in (w.split() if " " in w else [w])]
        if words[0] == "include":
            yield from _include(words, filename, base, defines, depth, number, sink, chain)
            continue
        yield _Line(words, filename, number, condition)


def _include(words: list[str], filename: str, base: str, defines: dict[str, str], depth: int,
             number: int, sink: _Sink, chain: tuple[str, ...]):
    if len(words) < 2:
        sink(filename, number, "include needs a path")
        return
    if depth >= MAX_INCLUDE_DEPTH:
        sink(filename, number, "includes nested too deep (a loop?)")
        return
    pattern = words[1] if os.path.isabs(words[1]) else os.path.join(base, words[1])
    matches = sorted(glob.glob(pattern))
    if not matches and not glob.has_magic(pattern):
        sink(filename, number, f"cannot read include {words[1]}: No such file or directory "
             "(keepalived skips it)", "warning")
    for match in matches:
        yield from _lines(match, defines, depth + 1, filename, number, sink, chain)


def _expand(word: str, defines: dict[str, str]) -> str:
    return _EXPAND.sub(lambda m: defines.get(m.group(1) or m.group(2), m.group(0)), word)


def _words(raw: str, filename: str, number: int, sink: _Sink) -> list[str]:
    """Split one line: quotes make one word, comments end the line, braces stand alone."""
    words: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    for char in raw:
        if quoted:
            if char == '"':
                quoted = False
            else:
                current.append(char)
            continue
        if char == '"':
            quoted = started = True
            continue
        if char in "#!":
            break
        if char.isspace() or char in "{}":
            if started:
                words.append("".join(current))
                current, started = [], False
            if char in "{}":
                words.append(char)
            continue
        current.append(char)
        started = True
    if quoted:  # keepalived complains and takes the rest of the line as the string
        sink(filename, number, "unterminated quoted string")
    if started:
        words.append("".join(current))
    return words


def _build(lines: list[_Line], sink: _Sink) -> list[Node]:
    """Braces → nesting. Each frame: (keyword line, its children so far)."""
    root: list[Node] = []
    stack: list[tuple[_Line, list[Node]]] = []
    siblings = root
    for entry in lines:
        words = list(entry.words)
        while words:
            if words[0] == "}":
                if not stack:  # keepalived: "Extra '}' found", and reads on
                    sink(entry.file, entry.line, "unexpected '}' (an extra brace closes "
                         "nothing; the block before it may have ended earlier than intended)")
                    words = words[1:]
                    continue
                opener, children = stack.pop()
                siblings = stack[-1][1] if stack else root
                siblings.append(Node(opener.words[0], tuple(opener.words[1:]), tuple(children),
                                     opener.file, opener.line, opener.condition))
                words = words[1:]
                continue
            if "{" in words:
                at = words.index("{")
                head, words = words[:at], words[at + 1:]
                if not head:  # a brace on its own line opens the previous statement
                    if not siblings or siblings[-1].children:
                        sink(entry.file, entry.line, "'{' opens nothing")
                        head_line = _Line(["{"], entry.file, entry.line)  # skipped as a block
                        stack.append((head_line, []))
                        siblings = stack[-1][1]
                        continue
                    previous = siblings.pop()
                    head_line = _Line([previous.keyword, *previous.args], previous.file,
                                      previous.line, previous.condition)
                else:
                    head_line = _Line(head, entry.file, entry.line, entry.condition)
                stack.append((head_line, []))
                siblings = stack[-1][1]
                continue
            closing = words.index("}") if "}" in words else len(words)
            statement, words = words[:closing], words[closing:]
            siblings.append(Node(statement[0], tuple(statement[1:]), (), entry.file,
                                 entry.line, entry.condition))
    while stack:  # keepalived: "There are N missing '}'s"; it closes them at the end
        opener, children = stack.pop()
        sink(opener.file, opener.line, f"'{opener.words[0]}' block is never closed")
        siblings = stack[-1][1] if stack else root
        siblings.append(Node(opener.words[0], tuple(opener.words[1:]), tuple(children),
                             opener.file, opener.line))
    return root
