"""Every fenced block of README.md, docs/*.md and cassettes/README.md runs, and prints what
the doc shows (issue 11): a doc that does not run is a failing test.

Each document runs top to bottom as a reader would, in a fresh directory holding the
repository's `docs/` and reference cassettes, without OPENAI_API_KEY. By language:

- ```python: a complete program, run (in this interpreter, on a thread); what it prints must
  be the ```text block right after it, or nothing. A module with `test_` functions is run by
  pytest (pytester) with the README's pyproject.toml and must pass without deprecation
  warnings.
- ```console / bash / shell: each `$ ` command runs and must print the lines below it and exit
  0, or N when its comment says `exit N`. `rtkit serve`, `rtkit fake` and `rtkit record
  --listen` are servers: a real process, left running, whose first line is its URL; a `^C`
  line stops a server with SIGINT (after its command, or in a later block: the server started
  last), and the lines after it are what it printed. `export` persists; `VAR=value cmd`,
  `cp` and a trailing `&` work as in a shell; `python FILE`, `pytest ARGS` (pytester; the
  copy of `docs/` is collected only when ARGS name a path in it) and `rtkit ...` (click's
  runner, 80 columns) run in this interpreter.
- ```json: each value parses, `...` standing for fields left out; a cassette line (with a
  `kind`) must be one rtkit reads. ```yaml, ```toml: they parse.
- ```text right after a python block: its output. Anything else must be marked.

Markers (`<!-- doc-test: KEY ARGS; ... -->` on the line before the fence):

- `fragment`: part of a program; python must parse (top-level `await` allowed) and its
  imports must work. `illustration`: a block without a language that is no program or output.
- `needs-key`: run against rtkit's fake API (docs/examples/replies.yaml) standing in for the
  live one: RTKIT_UPSTREAM_URL points at it and OPENAI_API_KEY is a placeholder, for this
  block only.
- `file NAME`: written to NAME in the doc's directory (ports mapped), for later commands.
- `files NAME...`: copies these inputs from tests/doc_files/ first.
- `same-as PATH`: the block is the shipped file PATH, or a block of the doc PATH (run there).
- `run-by SCRIPT`: each line is a line of SCRIPT (`.ci/run`, which CI runs).
- `with DRIVER`: after the block's server started, tests/doc_drivers.py's DRIVER (a client,
  a `curl`) runs against it. `output-of DRIVER`: the block shows output DRIVER produces.
- `exit N`: the server the block stops exits N.

Ports: the port a doc shows for a server stands for the port it really got (servers listen
on port 0); a command naming a port no server of the doc listens on fails. Printed output is
compared line by line; a `...` line stands for any number of lines, and only what must vary
is replaced on both sides (tests/doc_blocks.py's rules: dates and times, rtkit's version,
pids, pytest's run time, an inspect timeline's times and the order of its opening
`session.created` / `session.update`, how many server events a replay had sent when a mismatch
ended it, a client's own event ids, a client's loopback port).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rtkit.client.client
import rtkit.server.proxy
import rtkit.server.replay_server
from tests.doc_blocks import DOCS, Block, blocks
from tests.doc_session import DocSession

# kept loaded, so pytester's in-process runs do not import them again each time
assert rtkit.client.client and rtkit.server.proxy and rtkit.server.replay_server

CASES: list[tuple[str, int | None]] = []
for _doc in DOCS:
    CASES += [(_doc, i) for i in range(len(blocks(_doc)))] + [(_doc, None)]


def _id(case: tuple[str, int | None]) -> str:
    doc, index = case
    return f"{doc}:end" if index is None else blocks(doc)[index].id


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DocSession]]:
    """One session per document, made when its first block runs."""
    made: dict[str, DocSession] = {}
    yield made
    for session in made.values():
        session.kill()


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_doc_block(case: tuple[str, int | None], sessions: dict[str, DocSession],
                   tmp_path_factory: pytest.TempPathFactory,
                   request: pytest.FixtureRequest) -> None:
    doc, index = case
    session = sessions.get(doc)
    if session is None:
        directory = tmp_path_factory.mktemp(doc.replace("/", "-").removesuffix(".md"))
        session = sessions[doc] = DocSession(
            doc, directory, lambda: request.getfixturevalue("pytester"))
    session._pytester = lambda: request.getfixturevalue("pytester")  # this test's
    if index is None:
        session.run_through(len(session.blocks) - 1)
        problems = session.close()
        assert not problems, "\n".join(problems)
        return
    session.run_through(index)


def test_every_doc_has_blocks() -> None:
    found: list[Block] = [b for doc in DOCS for b in blocks(doc)]
    assert {b.doc for b in found} == set(DOCS)


def test_client_md_lists_every_ga_server_event() -> None:
    """docs/client.md's table of what the client does has one row per GA server event."""
    import re

    from rtkit.protocol import GA_SERVER_EVENTS
    from tests.doc_blocks import ROOT

    text = (ROOT / "docs" / "client.md").read_text()
    table = text[text.index("## What the client does with each GA server event"):]
    table = table[:table.index("\n## ")]
    listed = re.findall(r"^\| `([a-z_.]+)` \|", table, re.M)
    assert sorted(listed) == sorted(GA_SERVER_EVENTS)  # each once, none missing or extra


def test_clients_md_shows_or_runs_every_client_app() -> None:
    """docs/clients.md shows each app of docs/examples/clients/ (a block `same-as` the file) or
    runs it (`$ python docs/examples/clients/...`)."""
    import shlex

    from tests.doc_blocks import ROOT, commands

    found = blocks("docs/clients.md")
    shown = {b.marks["same-as"][0] for b in found if "same-as" in b.marks}
    run = {shlex.split(c.line)[1] for b in found if b.lang == "console"
           for c in commands(b.text)[1] if c.line.startswith("python ")}
    apps = {f"docs/examples/clients/{p.name}"
            for p in (ROOT / "docs" / "examples" / "clients").iterdir()}
    assert apps - shown - run == set()
