"""docs/client.md and docs/conversation.md stay true: every Python block runs from the
repository root (against the reference cassettes, no key; in this process, to stay fast) and
prints exactly the `text` block that follows it, and client.md's table of GA server events
lists every one of them (issue 11's first finding, issue 13's docs)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from rtkit.protocol import GA_SERVER_EVENTS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "client.md"
DOCS = [DOC, ROOT / "docs" / "conversation.md"]
BLOCK = re.compile(r"```python\n(?P<code>.*?)```(?:\s*```text\n(?P<out>.*?)```)?", re.S)


def _blocks(doc: Path = DOC) -> list[tuple[str, str | None]]:
    return [(m["code"], m["out"]) for m in BLOCK.finditer(doc.read_text())]


EXAMPLES = [(doc, code, out) for doc in DOCS for code, out in _blocks(doc)]


def test_the_session_example_prints_the_assistants_answer() -> None:
    text = DOC.read_text()
    section = text[text.index("## A session"):text.index("## Session fields")]
    code, out = _blocks()[0]
    assert code in section
    assert out == "The capital of France is Paris.\n"


@pytest.mark.parametrize(("doc", "code", "expected"), EXAMPLES,
                         ids=[f"{d.name}-{i}" for i, (d, _, _) in enumerate(EXAMPLES)])
def test_doc_example_runs_as_shown(doc: Path, code: str, expected: str | None,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the examples name cassettes relative to the repository root
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"{doc}:example", "exec"), {"__name__": "__main__"})
    if expected is not None:
        assert out.getvalue() == expected


def test_the_ga_event_table_lists_every_ga_server_event() -> None:
    text = DOC.read_text()
    table = text[text.index("## What the client does with each GA server event"):]
    table = table[:table.index("\n## ")]
    listed = re.findall(r"^\| `([a-z_.]+)` \|", table, re.M)
    assert sorted(listed) == sorted(GA_SERVER_EVENTS)  # each once, none missing or extra
