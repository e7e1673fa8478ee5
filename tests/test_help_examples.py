"""Every `$ rtkit ...` example in a command's --help is run on the shipped cassettes (from the
repository root, as it reads) and must print what the help shows.

In a help example, a line `...` stands for any number of lines, and a line ending in `...`
for any line that starts with what precedes it. The servers (`serve`, `record --listen`) run
until stopped and print a port chosen at run time; their own tests check what they print.
"""

from __future__ import annotations

import glob
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cli import COMMANDS, main
from rtkit.fake import FakeRealtimeAPI

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("serve", "record --listen", "fake")


def examples(help_text: str) -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) of each `$ rtkit` example in a help text."""
    found: list[tuple[str, list[str]]] = []
    indent = 0
    expected: list[str] | None = None
    for line in help_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("$ rtkit "):
            indent = len(line) - len(line.lstrip())
            expected = []
            found.append((stripped[2:].split("  #")[0].strip(), expected))
        elif expected is not None:
            if not stripped or len(line) - len(line.lstrip()) < indent:
                expected = None
            else:
                expected.append(line[indent:].rstrip())
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` is what `expected` shows (with `...` as described above)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    ok = actual[0].startswith(head[:-3]) if head.endswith("...") else actual[0] == head
    return ok and matches(rest, actual[1:])


def test_the_matcher() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "b..."], ["a", "bcd"])
    assert not matches(["a"], ["a", "b"])  # no "..." at the end: nothing more
    assert not matches(["a", "...", "e"], ["a", "b"])
    assert examples("Intro.\n\n  $ rtkit x a  # note\n  out 1\n    out 2\n\n  more") == [
        ("rtkit x a", ["out 1", "  out 2"])]


def all_examples() -> Iterator[tuple[str, str, list[str]]]:
    for name in sorted(COMMANDS):
        help_text = CliRunner().invoke(main, [name, "--help"], terminal_width=200).output
        for line, expected in examples(help_text):
            yield name, line, expected


EXAMPLES = list(all_examples())


def test_every_command_shows_an_example() -> None:
    assert {name for name, _, _ in EXAMPLES} == set(COMMANDS)


@pytest.mark.parametrize("name,line,expected", EXAMPLES,
                         ids=[line for _, line, _ in EXAMPLES])
def test_help_example_is_real_output(name: str, line: str, expected: list[str],
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if any(line.startswith(f"rtkit {server}") for server in SERVERS):
        pytest.skip("a server: runs until stopped, on a port chosen at run time")
    for shipped in ("cassettes", "docs"):
        (tmp_path / shipped).symlink_to(ROOT / shipped)
    monkeypatch.chdir(tmp_path)  # outputs such as `-o wav` land here
    args: list[str] = []
    for word in shlex.split(line)[1:]:
        args += sorted(glob.glob(word)) if "*" in word else [word]
    if name == "record":  # against the fake API answering as docs/examples/replies.yaml says
        with FakeRealtimeAPI(ROOT / "docs" / "examples" / "replies.yaml") as fake:
            monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
            result = CliRunner().invoke(main, args)
    else:
        result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    actual = result.output.splitlines()
    assert matches(expected, actual), (
        f"`{line}` --help shows:\n" + "\n".join(expected) + "\nbut prints:\n" + result.output)
