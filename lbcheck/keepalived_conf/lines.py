"""One line of keepalived.conf as keepalived's read_line() (lib/parser.c, 2.2.7) makes it.

Lint and `lbcheck vips` must see the lines keepalived sees, or a rule judges text no host
ever reads. read_line()'s steps, in its order, each written here from reading that code:

- decomment(): leading blanks go; `#` or `!` outside double quotes ends the line (`\\#` and
  `\\!` outside quotes are a literal `#` / `!`); trailing blanks go.
- `@ID line` is kept only where the config id is ID, `@^ID line` everywhere but there; the
  id is keepalived's `-i` / `--config-id`, by default the node name up to its first dot
  (main.c). An `@` word with nothing after it drops the line.
- `$NAME=value` defines a parameter (no blank before `=`; blanks after it are skipped); a
  value ending in `\\` goes on over the next lines until one does not end so, or a blank
  line: a multi-line definition.
- `$NAME` (followed by a blank, `,`, `)` or the end of the line) and `${NAME}` (glued to
  anything) are replaced by the value, which is scanned again (parameters may use
  parameters). An undefined name stays as written. A multi-line parameter is expanded only
  as the last word of a line: its first line replaces it there, its other lines follow as
  lines of their own. After an expansion the line is decommented again and, if it now starts
  with `@` or still holds a `$`, read again from the `@` step (2.2.7; later releases read it
  once).
- `_PWD` (the directory of the file being read), `_HASH` (`#`) and `_BANG` (`!`) are
  predefined; `_INSTANCE`, `_RANDOM` and `~SEQ` / `~LST` lines are not expanded here.

Only lines that define a parameter continue with `\\`: keepalived joins no other lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

MARK = "\x01"  # keepalived's DEF_LINE_END: the line break inside a multi-line value
MAX_LINE = 1024  # keepalived's MAXBUF: an expansion past it stops ('maximum line length')
MAX_EXPANSIONS = 1_000  # per line: `$A=$A` keeps keepalived expanding forever
MAX_ROUNDS = 10  # a line read again after its expansion: real lines need two at most
_REFERENCE_END = " \t,)"
_SPECIAL = re.compile(r'["\\#!]')


def host_config_id() -> str:
    """keepalived's default config id: uname's node name up to its first dot (main.c)."""
    return os.uname().nodename.split(".", 1)[0]


def decomment(raw: str) -> tuple[str, bool]:
    """(the line without comment and outer blanks, whether a quote is left open).

    As decomment() does: past the comment start only a final `\\` still counts (it marks
    the line as continued, which only a definition heeds)."""
    text = raw.lstrip(" \t")
    if not _SPECIAL.search(text):  # the common line: nothing to read character by character
        return text.rstrip(" \t"), False
    out: list[str] = []
    quote = cont = skipping = False
    index, size = 0, len(text)
    while index < size:
        found = _SPECIAL.search(text, index)
        if found is None:
            if not skipping:
                out.append(text[index:])
            break
        at = found.start()
        if not skipping:
            out.append(text[index:at])
        char = text[at]
        if char == "\\":
            if at + 1 == size:
                cont = True
                break
            following = text[at + 1]
            if not skipping:
                out.append(following if not quote and following in "#!" else char + following)
            index = at + 2
            continue
        if char == '"' and not skipping:
            quote = not quote
        elif char in "#!" and not quote:
            skipping = True
        if not skipping:
            out.append(char)
        index = at + 1
    line = "".join(out).rstrip(" \t")
    return (line + "\\" if cont else line), quote


def conditional(line: str, config_id: str) -> str | None:
    """The line without its `@ID` / `@^ID` prefix, or None where keepalived skips it."""
    if not line.startswith("@"):
        return line
    reverse = line.startswith("@^")
    start = 2 if reverse else 1
    blank = next((i for i in range(start, len(line)) if line[i] in " \t"), -1)
    if blank < 0:
        return None
    if (line[start:blank] == config_id) == reverse:
        return None
    return line[blank:].lstrip(" \t")


class Definition(NamedTuple):
    value: str
    multiline: bool


def _name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _name_start(char: str) -> bool:
    return char.isascii() and (char.isalpha() or char == "_")


class Expanded(NamedTuple):
    line: str
    following: list[str]  # the further lines of multi-line parameters, in order


class Parameters:
    """The `$NAME` definitions of one reading: global across includes, as keepalived's are.

    ``spend`` is called with the length of each value spliced in (the caller's budget; it
    raises to stop), ``problem`` with what keepalived would log about a line.
    """

    def __init__(self, spend: Callable[[int], None], problem: Callable[[str, str], None]
                 ) -> None:
        self.defined: dict[str, Definition] = {"_HASH": Definition("#", False),
                                               "_BANG": Definition("!", False)}
        self.spend = spend
        self.problem = problem
        self.continuing: str | None = None  # the multi-line definition being read

    def define(self, line: str) -> bool:
        """Record ``line`` if it is `$NAME=value` (check_definition()); True if it was."""
        if not line.startswith("$") or len(line) < 2 or not _name_start(line[1]):
            return False
        end = 2
        while end < len(line) and line[end] != "=":
            if not _name_char(line[end]):
                return False
            end += 1
        if end == len(line):
            return False
        name, value = line[1:end], line[end + 1:].lstrip(" \t")
        if value.endswith("\\"):
            value = value[:-1].rstrip(" \t")
            self.defined[name] = Definition(value + MARK if value else "", True)
            self.continuing = name
        else:
            self.defined[name] = Definition(value, False)
        return True

    def go_on(self, raw: str, line: str) -> None:
        """The next line while a multi-line definition is open (``line`` decommented): a
        blank line ends it, a line without a final `\\` is its last."""
        name = self.continuing
        assert name is not None
        definition = self.defined[name]
        if not raw:
            self._end(name, definition)
            return
        if not line:
            return  # a comment line: the definition goes on
        more = line.endswith("\\")
        if more:
            line = line[:-1].rstrip(" \t") + MARK
        if len(line) >= 2 or not more:
            definition = definition._replace(value=definition.value + line)
            self.defined[name] = definition
        if not more:
            self._end(name, definition)

    def _end(self, name: str, definition: Definition) -> None:
        self.continuing = None
        if not definition.value:
            self.defined[name] = definition._replace(multiline=False)

    def expand(self, line: str, directory: str) -> Expanded | None:
        """``line`` with its parameters replaced (replace_param()); None if it has none."""
        self.defined["_PWD"] = Definition(os.path.abspath(directory or "."), False)
        following: list[str] = []
        changed = False
        position = line.find("$")
        count = 0
        while 0 <= position < len(line) - 1:
            found = self._reference(line, position)
            if found is None:
                position = line.find("$", position + 1)
                continue
            definition, end = found
            count += 1
            if count > MAX_EXPANSIONS:
                self.problem("error", "parameters that refer to themselves: keepalived "
                             "expands this line forever")
                break
            value = definition.value
            if definition.multiline:
                value, *rest = value.split(MARK)
                following = rest + following
            self.spend(len(value))
            expanded = line[:position] + value + line[end:]
            if len(expanded) >= MAX_LINE and len(expanded) > len(line):
                self.problem("warning", f"parameter expansion past {MAX_LINE} characters: "
                             "keepalived stops expanding the line ('would exceed maximum "
                             "line length')")
                return Expanded(line, following) if changed else None
            line, changed = expanded, True
            if value.lstrip(" \t").startswith("~"):
                break
            position = line.find("$", position)
        return Expanded(line, [f for f in following if f]) if changed else None

    def _reference(self, line: str, start: int) -> tuple[Definition, int] | None:
        """The definition `$NAME` / `${NAME}` at ``start`` names, and where the reference
        ends (find_definition())."""
        index = start + 1
        braces = line[index] == "{"
        index += braces
        if index >= len(line) or not _name_start(line[index]):
            return None
        end = index + 1
        while end < len(line) and _name_char(line[end]):
            end += 1
        name = line[index:end]
        if braces:
            close = end
            while close < len(line) and line[close] in " 0123456789":
                close += 1
            if close != end or close >= len(line) or line[close] != "}":
                return None  # `${_RANDOM 1 9}`'s arguments: not expanded here
            end = close + 1
        elif end < len(line) and line[end] not in _REFERENCE_END:
            return None
        definition = self.defined.get(name)
        if definition is None or (definition.multiline and end != len(line)):
            return None
        return definition, end


def statements(line: str, config_id: str, parameters: Parameters, directory: str
               ) -> Iterator[str]:
    """The lines keepalived reads from one decommented source line: none (a definition, a
    line for another host), the line expanded, and the further lines of a multi-line
    parameter it ends with."""
    pending = [line]
    while pending:
        text: str | None = pending.pop(0)
        for _round in range(MAX_ROUNDS):
            assert text is not None
            text = conditional(text, config_id)
            if text is None or parameters.define(text):
                text = None
                break
            if text.startswith(("~SEQ", "~LST")):
                parameters.problem("warning", "~SEQ / ~LST lines are not expanded by lint: "
                                   "the lines keepalived generates from it are not checked")
                text = None
                break
            if text.startswith("~"):
                break
            expanded = parameters.expand(text, directory) if "$" in text else None
            if expanded is None:
                break
            pending[:0] = expanded.following
            text, _open = decomment(expanded.line)
            if not (text.startswith("@") or "$" in text):
                break
        if text:
            yield text
