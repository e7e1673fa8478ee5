"""The docs test itself (tests/test_docs.py): it fails on a block that does not do what its
doc shows, on a block it cannot run that is not marked, and compares output only modulo its
few explicit rules."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doc_blocks import blocks, commands, matches, normalise
from tests.doc_session import _KEPT, DocSession, Failure


def run_doc(tmp_path: Path, text: str, pytester: pytest.Pytester | None = None) -> DocSession:
    """Run every block of a doc made of `text`, then stop its servers (exit 0 required)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    work = tmp_path / "work"
    work.mkdir()

    def get_pytester() -> pytest.Pytester:
        assert pytester is not None, "not needed here"
        return pytester

    session = DocSession(str(doc), work, get_pytester)
    try:
        session.run_through(len(session.blocks) - 1)
        problems = session.close()
        if problems:
            raise Failure("\n".join(problems))
    finally:
        session.kill()
    return session


def test_matching_and_the_normalisation_rules() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "..."], ["a"])
    assert not matches(["a"], ["a", "b"])
    assert not matches(["a", "...", "e"], ["a", "b"])
    assert normalise("recorded 2026-11-25T00:14:16Z by rtkit 0.1.0") == \
        "recorded <time> by rtkit <version>"
    assert normalise("another writer (pid 4501) is") == "another writer (pid <pid>) is"
    assert normalise("2 passed in 0.44s") == "2 passed in <seconds>s"
    assert normalise("    0.004  user       \"hi\"") == "    <t>  user       \"hi\""
    assert normalise("    0.004  nobody") == "    0.004  nobody"  # not a timeline line
    assert normalise('  actual:   {"event_id": "evt_L4E3d5kWWYaMphAWZ", "type"') == \
        '  actual:   {"event_id": "<client id>", "type"'
    opening = ["episode 0  /v1/realtime  0.64 s  (7 client / 49 server events)  closed 1000",
               "    0.002  server     session.created (gpt-realtime)",
               "    0.003  client     session.update (output text)",
               "    0.004  client     response.create"]
    swapped = [opening[0], opening[2], opening[1], opening[3]]
    assert normalise("\n".join(opening)) == normalise("\n".join(swapped))  # a race at connect
    assert normalise("\n".join([*opening[:2], opening[3], opening[2]])) != \
        normalise("\n".join(opening))  # but only there
    closed = ("rtkit serve: #1 episode 0: closed by rtkit (4000 invalid_request_error."
              "replay_mismatch); 3 client / {} server event(s) played")
    assert normalise(closed.format(18)) == normalise(closed.format(19))
    assert normalise(closed.format(18).replace("3 client", "4 client")) != \
        normalise(closed.format(18))  # the client's events are counted exactly
    served = "rtkit serve: #1 episode 0: closed by the client (1000); 7 client / {} server"
    assert normalise(served.format(52)) != normalise(served.format(51))  # only on a mismatch
    assert normalise('  expected: {"event_id": "evt_L4E3d5kWWYaMphAWZ"') == \
        '  expected: {"event_id": "evt_L4E3d5kWWYaMphAWZ"'  # the recorded one must match
    named = "does not match the recorded 'x' (the episode's client event #4, {}:{})."
    assert normalise(named.format("first.jsonl", 25)) == normalise(named.format("first.jsonl", 24))
    assert normalise(named.format("cassettes/ga/t.jsonl", 6)) != \
        normalise(named.format("cassettes/ga/t.jsonl", 7))  # a shipped cassette's is exact
    assert normalise(named.format("first.jsonl", 25).replace("#4", "#5")) != \
        normalise(named.format("first.jsonl", 25))  # and the event's number always


def test_blocks_markers_and_commands(tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text("<!-- doc-test: files a b; exit 1 -->\n\n```console\n$ rtkit x  # exit 2\n"
                   "out\n\n$ rtkit y &\n^C\nbye\n```\n\n<!-- other -->\n```js\nx\n```\n")
    first, second = blocks(str(doc))
    assert (first.line, first.lang, first.marks) == (3, "console", {"files": ["a", "b"],
                                                                     "exit": ["1"]})
    assert second.marks == {}
    lead, found = commands(first.text)
    assert lead == []
    assert [(c.line, c.exit_code, c.output, c.stop) for c in found] == [
        ("rtkit x", 2, ["out"], None), ("rtkit y &", 0, [], ["bye"])]
    doc.write_text("<!-- doc-test: fragment -->\n<!-- another tool's -->\n```python\n```\n")
    assert blocks(str(doc))[0].marks == {"fragment": []}
    doc.write_text("<!-- doc-test: fragmnet -->\n```python\npass\n```\n")
    with pytest.raises(ValueError, match="unknown doc-test marker 'fragmnet'"):
        blocks(str(doc))


@pytest.mark.parametrize(("text", "message"), [
    ("```js\nconsole.log(1)\n```\n", "a ```js block the docs test cannot run"),
    ("```\nsome output\n```\n", "a ``` block the docs test cannot run"),
    ("```python\nprint('hi')\n```\n\n```text\nhello\n```\n", "the doc shows\nhello"),
    ("```python\nprint('hi')\n```\n", "the doc shows\n\nbut the run printed\nhi"),
    ("```python\nraise SystemExit(3)\n```\n", "exited 3"),
    ("```text\nhello\n```\n", "cannot run"),
    ("```console\nrtkit serve: warning: x\n```\n", "output with no command before it"),
    ("```console\n^C\n```\n", "`^C` but no server"),
    ("```console\n$ rtkit validate cassettes/ga/text_turn.jsonl\n"
     "cassettes/ga/text_turn.jsonl: OK (1 episode(s), 99 lines)\n```\n", "28 lines"),
    ("```console\n$ rtkit diff cassettes/ga/text_turn.jsonl cassettes/ga/text_turn.jsonl\n"
     "```\n", "no conversation-level differences"),
    ("```console\n$ rtkit validate missing.jsonl\n```\n", "exited 2, not 0"),
    ("```console\n$ rtkit inspect x.jsonl --upstream ws://127.0.0.1:8765/v1\n```\n",
     "names 127.0.0.1:8765, where no server"),
    ("```console\n$ ls\n```\n", "does not run `ls`"),
    ("<!-- doc-test: same-as docs/examples/replies.yaml -->\n```yaml\nrules: []\n```\n",
     "not docs/examples/replies.yaml as shipped"),
    ("<!-- doc-test: fragment -->\n```python\nfrom rtkit import NoSuchThing\n```\n",
     "cannot import name 'NoSuchThing'"),
    ("```json\n{\"kind\":\"close\",\"conn\":0,\"t\":1.0,\"code\":999}\n```\n",
     "not a cassette line rtkit reads"),
])
def test_a_block_that_does_not_do_what_it_shows_fails(tmp_path: Path, text: str,
                                                       message: str) -> None:
    with pytest.raises((Failure, ImportError)) as info:
        run_doc(tmp_path, text)
    assert message in str(info.value)


def test_servers_ports_and_ctrl_c(tmp_path: Path) -> None:
    """A server the doc starts keeps running for later blocks; its port in the doc stands
    for the real one, in commands, programs and output; `^C` stops it and shows the rest."""
    session = run_doc(tmp_path, """
```console
$ rtkit fake --listen 127.0.0.1:8766 &
ws://127.0.0.1:8766/v1/realtime
```

```python
import asyncio

from websockets.asyncio.client import connect


async def main() -> None:
    async with connect("ws://127.0.0.1:8766/v1/realtime") as ws:
        print((await ws.recv())[:25])


asyncio.run(main())
```

```text
{"type":"session.created"
```

```console
rtkit fake: #1 GA /v1/realtime (no key): 0 client / 1 server events, 0 error event(s), closed 1000
^C
```
""")
    assert not session.servers[0].running
    assert session.ports[8766] != 8766


LATER = """
```console
$ rtkit fake --listen 127.0.0.1:8766
ws://127.0.0.1:8766/v1/realtime
rtkit fake: #1 GA /v1/realtime (no key): 0 client / 1 server events, 0 error event(s), closed {code}
```

```python
import asyncio

from websockets.asyncio.client import connect


async def main() -> None:
    async with connect("ws://127.0.0.1:8766/v1/realtime") as ws:
        await ws.recv()


asyncio.run(main())
```
"""


def test_what_a_server_prints_later_is_checked_when_it_stops(tmp_path: Path) -> None:
    """A server block may show lines that a later block makes it print; they are compared
    when the server stops (here at the end of the doc)."""
    run_doc(tmp_path / "a", LATER.format(code=1000))
    with pytest.raises(Failure, match=r"(?s)the doc shows\n.*closed 1001\nbut the run"):
        run_doc(tmp_path / "b", LATER.format(code=1001))


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path, outside any doc's, for modules a doc's programs import; they
    are forgotten afterwards."""
    lib = tmp_path / "lib"
    lib.mkdir()
    monkeypatch.syspath_prepend(str(lib))
    yield lib
    for path in lib.glob("*.py"):
        sys.modules.pop(path.stem, None)
        _KEPT.pop(path.stem, None)


def test_a_programs_imports_run_on_the_main_thread(tmp_path: Path, library: Path) -> None:
    """As with `python FILE`: some libraries refuse to be imported on another thread
    (livekit's plugins register themselves at import), though the harness runs the program
    itself on a thread."""
    (library / "main_thread_only.py").write_text(
        "import threading\n\n"
        "if threading.current_thread() is not threading.main_thread():\n"
        "    raise RuntimeError('import me on the main thread')\n")
    run_doc(tmp_path / "doc", "```python\nimport main_thread_only\n\nprint('imported')\n```\n"
            "\n```text\nimported\n```\n")


def test_a_library_that_pytest_runs_import_is_imported_once(
        tmp_path: Path, library: Path, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester unloads what an in-process run imported, and some extension modules abort the
    interpreter when imported again (pipecat's soxr): a library the doc's tests import stays
    loaded, as in a process that imported it once."""
    log = tmp_path / "imports.log"
    monkeypatch.setenv("IMPORTS_LOG", str(log))
    (library / "imported_once.py").write_text(
        "import os\n\nwith open(os.environ['IMPORTS_LOG'], 'a') as f:\n    f.write('import\\n')\n")
    passed = ".                                                                        [100%]\n" \
             "1 passed in 0.01s\n"
    run_doc(tmp_path / "doc", "<!-- doc-test: file pyproject.toml -->\n```toml\n"
            "[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = \"function\"\n```\n\n"
            "<!-- doc-test: file test_lib.py -->\n```python\n"
            "import imported_once\n\n\ndef test_it():\n    pass\n```\n\n"
            f"```console\n$ pytest -q test_lib.py\n{passed}$ pytest -q test_lib.py\n{passed}```\n"
            f"\n```console\n$ pytest -q test_lib.py\n{passed}```\n", pytester)
    assert log.read_text() == "import\n"
