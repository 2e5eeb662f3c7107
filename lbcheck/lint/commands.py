"""Shell syntax in a command keepalived runs without a shell (KA074).

keepalived 2.2.7 never hands a notify or vrrp_script command to a shell: notify_script_init()
and vrrp_vscript_script_handler() take the keyword's first value (one quoted string, or one
word), and set_script_params_array() (lib/notify.c) splits it into argv itself (quotes and
backslashes honoured, nothing else); system_call_script() then execve()s argv[0]. So `|`,
`>`, `&>>`, `;`, `&&`, `$(…)` and backticks reach the program as literal arguments: nothing
is piped, redirected or substituted. (Only a file without a `#!` line, which keepalived's
libmagic check reports with 'Please add a #! shebang', goes through system(), a shell.)
Unquoted, the words after the first are not the command's at all: for a notify keyword they
are the user and group to run it as — `>>` is no user, so keepalived drops the script
('Invalid user/group … - ignoring', at start-up, after `keepalived -t` said nothing); for a
vrrp_script's `script` they are ignored.
"""

from __future__ import annotations

import re
import shlex

from lbcheck.keepalived_conf import Node
from lbcheck.keepalived_conf.model import NOTIFY_KEYWORDS
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import KA074, Subject, per_config

# a word a shell would treat as syntax: an operator, a redirection, a substitution
_SHELL = re.compile(r"^(?:\|\|?|&&?|;;?|[0-9]*>>?(?:&[0-9-])?|&>>?|[0-9]*<<?|\|&)"
                    r"|\$\(|`")
_OWNERS = ("vrrp_instance", "vrrp_sync_group")


def shell_words(words: list[str]) -> list[str]:
    """The words a shell would have read as syntax; a word with blanks in it was quoted, an
    argument for something else (`sh -c '… | …'`), and is left alone."""
    return [w for w in words if _SHELL.search(w) and not any(c.isspace() for c in w)]


def _argv(command: str) -> list[str]:
    """set_script_params_array(): quotes and backslashes honoured, blanks split."""
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote: keepalived keeps the rest as one word
        return command.split()


def _commands(nodes: tuple[Node, ...]) -> list[tuple[str, Node]]:
    found = []
    for node in nodes:
        if node.keyword in _OWNERS:
            found += [(node.args[0] if node.args else "", c) for c in node.children
                      if c.keyword in NOTIFY_KEYWORDS and c.args]
        elif node.keyword == "vrrp_script":
            found += [(node.args[0] if node.args else "", c) for c in node.find("script")
                      if c.args]
    return found


@per_config(KA074)
def shell_syntax(subject: Subject) -> list[Finding]:
    """KA074: a warning when the command (its one quoted value) holds shell syntax keepalived
    passes on literally; an error when the syntax stands unquoted after it, where keepalived
    reads it as the user and group (notify: the script is dropped) or ignores it."""
    found = []
    for owner, node in _commands(subject.config.nodes):
        command, rest = node.args[0], list(node.args[1:])
        literal = shell_words(_argv(command))
        if shell_words(rest):
            if node.keyword == "script" or not shell_words(rest[:2]):
                lost = (f"keepalived runs '{command}' alone and ignores the rest of the line "
                        f"('{' '.join(rest)}')")
            else:
                shell = shell_words(rest)[0]
                group = f" and '{rest[1]}' as the group" if len(rest) > 1 else ""
                lost = (f"keepalived runs '{command}' alone, reading '{rest[0]}' as the user"
                        f"{group} to run it as; '{shell}' names no user or group, so it drops "
                        "the script at start-up ('Invalid user/group … - ignoring'; "
                        "`keepalived -t` is silent)")
            found.append(KA074.finding(
                node.file, node.line,
                f"{owner}: {node.keyword} has shell syntax outside its quotes: {lost}",
                f'{node.keyword} "/bin/sh -c \'{" ".join(node.args)}\'", or a script file '
                "that does the piping", "error"))
        elif literal:
            found.append(KA074.finding(
                node.file, node.line,
                f"{owner}: {node.keyword} '{command}' uses shell syntax "
                f"({' '.join(dict.fromkeys(literal))}), but keepalived runs it without a "
                "shell: the program gets those as literal arguments, and nothing is piped, "
                "redirected or substituted",
                f'{node.keyword} "/bin/sh -c \'{command}\'", or a script file that does it'))
    return found
