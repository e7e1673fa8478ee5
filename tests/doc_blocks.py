"""The fenced blocks of the docs, how each is marked, and how printed output is compared.

A block is run by its language (see tests/test_docs.py for what each one means) unless a
marker comment on the line before its fence says otherwise:

    <!-- doc-test: KEY [ARGS]; KEY [ARGS] -->

Keys: `fragment`, `illustration`, `needs-key`, `file NAME`, `files NAME...`, `same-as PATH`,
`run-by SCRIPT`, `with DRIVER`, `output-of DRIVER`, `exit N`. Anything else is an error, so a
typo cannot silently turn a check off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DOCS", "KEYS", "ROOT", "Block", "Command", "blocks", "commands", "matches",
           "normalise"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")),
        "cassettes/README.md"]
KEYS = {"fragment", "illustration", "needs-key", "file", "files", "same-as", "run-by", "with",
        "output-of", "exit"}

_FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*doc-test:(.*?)-->", re.S)


@dataclass
class Block:
    """One fenced block: where it is, its language and text, and its marker's keys."""

    doc: str
    line: int  # of the opening fence, from 1
    lang: str
    text: str
    marks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """`doc:line`, as test ids and messages name it."""
        return f"{self.doc}:{self.line}"

    def mark(self, key: str) -> list[str] | None:
        """The arguments of marker `key`, or None when the block has no such marker."""
        return self.marks.get(key)


def _marks(before: str, where: str) -> dict[str, list[str]]:
    """The keys of the doc-test markers among the comments right before a fence (other
    comments may sit there too)."""
    marks: dict[str, list[str]] = {}
    before = before.rstrip()
    while before.endswith("-->") and "<!--" in before:
        start = before.rindex("<!--")
        match = _MARKER.fullmatch(before[start:])
        before = before[:start].rstrip()
        if match is None:
            continue
        for part in match.group(1).split(";"):
            words = part.split()
            if not words:
                continue
            if words[0] not in KEYS:
                raise ValueError(f"{where}: unknown doc-test marker {words[0]!r} "
                                 f"(known: {', '.join(sorted(KEYS))})")
            marks[words[0]] = words[1:]
    return marks


def blocks(doc: str) -> list[Block]:
    """Every fenced block of `doc` (a path relative to the repository root), in order."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    found: list[Block] = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()]
        # the marker is the last thing before the fence (blank lines allowed)
        found.append(Block(doc, line, match.group(1), match.group(2),
                           _marks(before, f"{doc}:{line}")))
    return found


@dataclass
class Command:
    """A `$ ` line of a console block and the lines shown after it."""

    line: str  # without "$ " and without its trailing comment
    comment: str
    output: list[str]
    stop: list[str] | None = None  # lines shown after a `^C` line: the command was stopped

    @property
    def exit_code(self) -> int:
        """What the command must exit with: `exit N` in its comment, else 0."""
        found = re.search(r"\bexit (\d+)\b", self.comment)
        return int(found.group(1)) if found else 0


def _split_comment(line: str) -> tuple[str, str]:
    """`cmd args  # comment` -> (`cmd args`, `comment`); a `#` inside quotes is kept."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def commands(text: str) -> tuple[list[str], list[Command]]:
    """A console block: the lines shown before its first command (the rest of a server's
    output, stopped by a `^C` line), and its commands with the output shown for each."""
    lead: list[str] = []
    found: list[Command] = []
    for raw in text.splitlines():
        if raw.startswith("$ "):
            line, comment = _split_comment(raw[2:])
            found.append(Command(line, comment, []))
            continue
        target = found[-1] if found else None
        if raw.strip() == "^C":
            if target is None:
                lead.append(raw.strip())
            else:
                target.stop = []
            continue
        if target is None:
            lead.append(raw)
        elif target.stop is not None:
            target.stop.append(raw)
        else:
            target.output.append(raw)
    for command in found:
        _strip_trailing_blanks(command.output)
        if command.stop is not None:
            _strip_trailing_blanks(command.stop)
    _strip_trailing_blanks(lead)
    return lead, found


def _strip_trailing_blanks(lines: list[str]) -> None:
    """A blank line before the next `$` is layout, not output."""
    while lines and not lines[-1].strip():
        lines.pop()


# -- comparing output --------------------------------------------------------------------------

# What may differ between the doc and a run, and nothing else; each rule is applied to both
# sides. Ports are handled by the session (a doc's port stands for the one the server got).
_RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("a date and time (cassette headers, file times)",
     re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\dZ?"), "<time>"),
    ("rtkit's version in a cassette header", re.compile(r"\bby rtkit \d+\.\d+\.\d+\S*"),
     "by rtkit <version>"),
    ("a process id", re.compile(r"\bpid \d+\b"), "pid <pid>"),
    ("pytest's run time", re.compile(r" in \d+\.\d+s\b"), " in <seconds>s"),
    ("an event's time in an `rtkit inspect` timeline",
     re.compile(r"^(  +)\d+\.\d{3}(  (?:client|server|user|assistant|tool|system) )", re.M),
     r"\1<t>\2"),
    ("an episode's length in an `rtkit inspect` timeline",
     re.compile(r"^(episode \d+  \S+  )\d+\.\d\d s", re.M), r"\1<length> s"),
    ("how many server events a replay had sent when a mismatch ended it: a server event sent as "
     "the client replied to the one before is recorded before or after the reply, as the two "
     "crossed the recorder",
     re.compile(r"(closed by rtkit \(4000 invalid_request_error\.replay_mismatch\); "
                r"\d+ client / )\d+( server event\(s\) played)"), r"\1<n>\2"),
    ("the cassette line of the recorded event a mismatch report names, in a fresh recording: "
     "the server events that crossed the client's events on their way through the recorder "
     "put it a line earlier or later",
     re.compile(r"(\(the episode's client event #\d+, (?!cassettes/)\S+\.jsonl:)\d+\)"),
     r"\1<line>)"),
    ("the event_id the client made up, in a mismatch report's `actual:` line",
     re.compile(r'^(\s*actual:\s+\{"event_id": ")evt_\w+"', re.M), r'\1<client id>"'),
]


_OPENING = re.compile(r"^  +<t>  (?:server     session\.created|client     session\.update)\b")


def _opening_in_any_order(lines: list[str]) -> list[str]:
    """At the start of an `rtkit inspect` episode, the server's `session.created` and the
    client's first `session.update`s are sent at once by both sides, so they are recorded in
    either order: sort that run of lines."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        i += 1
        if lines[i - 1].startswith("episode "):
            j = i
            while j < len(lines) and _OPENING.match(lines[j]):
                j += 1
            out += sorted(lines[i:j])
            i = j
    return out


def normalise(text: str) -> str:
    """`text` with the few things that must vary from run to run replaced by placeholders."""
    for _, pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return "\n".join(_opening_in_any_order(text.split("\n")))


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` is what the doc shows; a line `...` in the doc stands for any number
    of lines. Lines are compared without trailing spaces."""
    expected = [line.rstrip() for line in expected]
    actual = [line.rstrip() for line in actual]

    def at(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i].strip() == "...":
            return any(at(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and expected[i] == actual[j] and at(i + 1, j + 1)

    return at(0, 0)
