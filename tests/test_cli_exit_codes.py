"""docs/cli.md's table of exit codes is what the commands do: for every cell of the table, a
real invocation of that command ends with that code, and every failure (exit 2, and `record`'s
exit 1) is reported one way, `rtkit: error: ...` on stderr, without a traceback.

The servers (`serve`, `fake`, `record --listen`) run as processes and are stopped by signals;
the other commands run through click's runner."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cli import COMMANDS, main
from rtkit.fake import FakeRealtimeAPI
from tests.doc_drivers import make_leaky
from tests.doc_servers import Server, base_env

ROOT = Path(__file__).resolve().parent.parent
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"
REPLIES = ROOT / "docs" / "examples" / "replies.yaml"


def documented() -> dict[tuple[str, int], str]:
    """(command, exit code) -> what the table says, for every cell that is not `—`."""
    text = (ROOT / "docs" / "cli.md").read_text()
    table = text[text.index("## Exit codes"):]
    table = table[:table.index("\n\n", table.index("|"))]
    cells: dict[tuple[str, int], str] = {}
    for row in re.findall(r"^\| `(\w+)` \|(.*)\|$", table, re.M):
        name, rest = row
        for code, cell in enumerate(rest.split("|")):
            if cell.strip() not in ("—", ""):
                cells[(name, code)] = cell.strip()
    return cells


class Run:
    """What an invocation printed and how it ended."""

    def __init__(self, code: int, output: str, stderr: str) -> None:
        self.code, self.output, self.stderr = code, output, stderr


def cli(*args: str, env: dict[str, str | None] | None = None) -> Run:
    result = CliRunner().invoke(main, list(args), prog_name="rtkit",
                                env={"OPENAI_API_KEY": None, "RTKIT_UPSTREAM_URL": None,
                                     **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return Run(result.exit_code, result.output, result.stderr)


def server(*args: str, client: Callable[[str], None] | None = None,
           sig: signal.Signals | None = signal.SIGTERM) -> Run:
    """`rtkit ARGS` as a process: wait for its URL, run `client` against it, then signal it
    (or, with sig None, wait for it to exit on its own)."""
    proc = Server(list(args), ROOT, base_env())
    try:
        url = proc.start()
        assert url is not None and url.startswith("ws://"), url
        if client is not None:
            client(url)
        code, rest = proc.stop(sig)
        return Run(code, "\n".join(rest), "\n".join(rest))
    finally:
        proc.kill()


def _connect(url: str) -> None:
    async def main() -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        with pytest.raises(InvalidStatus) as info:
            async with connect(url):
                pass
        assert info.value.response.status_code == 401

    asyncio.run(main())


def _ask_italy(url: str) -> None:
    from tests.doc_drivers import _ask

    assert asyncio.run(_ask(url, "What is the capital of Italy?")) == \
        "CannotOverwriteExistingCassetteException"


class Refusing:
    """An upstream on 127.0.0.1 that refuses every WebSocket upgrade with HTTP 401, as the
    live API does for a bad key."""

    def __enter__(self) -> str:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"error": {"code": "invalid_api_key"}}'
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()

        async def serve() -> None:
            self.server = await asyncio.start_server(answer, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop)
        assert started.wait(30)
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def _script(directory: Path, steps: str) -> Path:
    path = directory / "s.yaml"
    path.write_text("session: {modalities: [text], turn_detection: null}\nsteps:\n" + steps)
    return path


def record_0(d: Path) -> Run:
    with FakeRealtimeAPI(REPLIES) as fake:
        return cli("record", "--script", str(_script(d, "  - say: hello\n")), "-o", "a.jsonl",
                   "--upstream", fake.url)


def record_1_refused(d: Path) -> Run:
    with Refusing() as upstream:
        return server("record", "--listen", "127.0.0.1:0", "--upstream", upstream, "-o",
                      str(d / "r.jsonl"), "--max-connections", "1", client=_connect, sig=None)


def record_1_timeout(d: Path) -> Run:
    script = _script(d, "  - wait: {event: never.sent, timeout: 0.2}\n")
    with FakeRealtimeAPI(REPLIES) as fake:
        return cli("record", "--script", str(script), "-o", "t.jsonl", "--upstream", fake.url)


def record_2(d: Path) -> Run:
    return cli("record", "-o", "x.jsonl")  # neither --listen nor --script


def serve_1(d: Path) -> Run:
    return server("serve", str(TEXT_TURN), "--max-connections", "1", client=_ask_italy,
                  sig=None)


def recover_0(d: Path) -> Run:
    return cli("recover", "session.jsonl")  # nothing left beside it: says so


def recover_2(d: Path) -> Run:
    return cli("recover", "session.jsonl", "-o", "out.jsonl")  # nothing to recover


def scrub_0(d: Path) -> Run:
    shutil.copy(TEXT_TURN, d / "clean.jsonl")
    return cli("scrub", "clean.jsonl")


def scrub_1(d: Path) -> Run:
    make_leaky(d)
    return cli("scrub", "--check", "leaky.jsonl")


def validate_1(d: Path) -> Run:
    (d / "corrupt.jsonl").write_text(TEXT_TURN.read_text()[:-40])  # the last line cut short
    return cli("validate", "corrupt.jsonl")


def fake_2(d: Path) -> Run:
    (d / "bad.yaml").write_text("rulez: []\n")
    return cli("fake", "--script", "bad.yaml")


GA, BETA = str(TEXT_TURN), str(ROOT / "cassettes" / "beta" / "text_turn.jsonl")
INVOCATIONS: dict[tuple[str, int], list[Callable[[Path], Run]]] = {
    ("record", 0): [record_0],
    ("record", 1): [record_1_refused, record_1_timeout],
    ("record", 2): [record_2],
    ("serve", 0): [lambda d: server("serve", GA)],
    ("serve", 1): [serve_1],
    ("serve", 2): [lambda d: cli("serve", "missing.jsonl")],
    ("fake", 0): [lambda d: server("fake", "--script", str(REPLIES))],
    ("fake", 2): [fake_2],
    ("inspect", 0): [lambda d: cli("inspect", GA)],
    ("inspect", 2): [lambda d: cli("inspect", "missing.jsonl")],
    ("validate", 0): [lambda d: cli("validate", GA, BETA)],
    ("validate", 1): [validate_1],
    ("validate", 2): [lambda d: cli("validate", "missing.jsonl")],
    ("diff", 0): [lambda d: cli("diff", GA, GA)],
    ("diff", 1): [lambda d: cli("diff", GA, BETA)],
    ("diff", 2): [lambda d: cli("diff", GA, "missing.jsonl"),
                  lambda d: cli("diff", GA, GA, "--html", ".")],
    ("scrub", 0): [scrub_0],
    ("scrub", 1): [scrub_1],
    ("scrub", 2): [lambda d: cli("scrub", "--pattern", "(", GA)],
    ("audio", 0): [lambda d: cli("audio", str(ROOT / "cassettes/ga/audio_turn.jsonl"), "-o",
                                 "wav")],
    ("audio", 2): [lambda d: cli("audio", "missing.jsonl", "-o", "wav")],
    ("recover", 0): [recover_0],
    ("recover", 2): [recover_2],
    ("view", 0): [lambda d: cli("view", str(ROOT / "cassettes/ga/vad_barge_in.jsonl"))],
    ("view", 2): [lambda d: cli("view", "missing.jsonl"),
                  lambda d: cli("view", GA, "--episode", "3"),
                  lambda d: cli("view", GA, "-o", GA + "/under-a-file.html")],
}
CASES = [(key, run) for key, runs in INVOCATIONS.items() for run in runs]


def test_the_table_has_a_row_per_command_and_a_test_per_cell() -> None:
    cells = documented()
    assert {name for name, _ in cells} == set(COMMANDS)
    assert set(INVOCATIONS) == set(cells)


@pytest.mark.parametrize(("key", "invoke"), CASES,
                         ids=[f"{k[0]}-{k[1]}-{run.__name__}" for k, run in CASES])
def test_the_command_exits_as_documented(key: tuple[str, int], invoke: Callable[[Path], Run],
                                         here: Path) -> None:
    name, code = key
    run = invoke(here)
    assert run.code == code, f"rtkit {name} exited {run.code}, not {code}:\n{run.output}"
    assert "Traceback" not in run.output
    if code == 2 or (name == "record" and code == 1):  # a failure: one style
        last = run.stderr.rstrip().splitlines()[-1]
        assert last.startswith("rtkit: error: "), run.stderr
        assert not re.search(r"^Error:", run.stderr, re.M)
