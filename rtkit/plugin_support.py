"""The logic behind rtkit's pytest fixtures, kept out of the (thin) plugin module.

- option resolution (command line over marker over config fixture),
- cassette naming (sanitised like pytest-recording's),
- the API key (environment or a `.env` file) and the upstream URL,
- a background event loop that hosts replay servers and recording proxies, so `rt_server`
  works from sync tests and from any test event loop,
- a network allowance: under pytest-recording's `--block-network`, loopback connections to
  rtkit's servers (and connections rtkit's recorder opens) stay allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import socket
import threading
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rtkit.errors import RtkitUnplayedWarning
from rtkit.record_mode import RecordMode, RecordPlan, plan, resolve_record_mode

__all__ = [
    "DEFAULT_UPSTREAM_URL",
    "UPSTREAM_ENV",
    "IOLoop",
    "NetworkAllowance",
    "RtCassette",
    "RtOptions",
    "RtSession",
    "RtkitUnplayedWarning",
    "default_cassette_name",
    "find_api_key",
    "io_loop",
    "parse_pace",
    "read_dotenv",
    "resolve_options",
]

DEFAULT_UPSTREAM_URL = "wss://api.openai.com/v1/realtime"
UPSTREAM_ENV = "RTKIT_UPSTREAM_URL"
API_KEY_ENV = "OPENAI_API_KEY"
CASSETTE_SUFFIX = ".jsonl"
HTTP_CASSETTE_SUFFIX = ".http.yaml"

T = TypeVar("T")

try:
    MAX_FILENAME_LEN = os.pathconf(".", "PC_NAME_MAX")
except (AttributeError, ValueError, OSError):  # pragma: no cover - Windows
    MAX_FILENAME_LEN = 255


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class RtOptions:
    """Everything a marked test's cassette and server need, merged from all sources."""

    record_mode: RecordMode = RecordMode.NONE
    pace: float | str = "instant"
    upstream_url: str = DEFAULT_UPSTREAM_URL
    cassette: str | None = None
    vcr: bool = False
    vcr_config: Mapping[str, Any] = field(default_factory=dict)
    dialect: str | None = None
    model: str | None = None
    replay_options: Mapping[str, Any] = field(default_factory=dict)
    allow_unplayed: bool = True


_KNOWN_KEYS = {
    "record_mode",
    "pace",
    "upstream_url",
    "cassette",
    "vcr",
    "vcr_config",
    "dialect",
    "model",
    "replay_options",
    "allow_unplayed",
}


def merge_marker_kwargs(config: Mapping[str, Any], markers: Iterable[Any]) -> dict[str, Any]:
    """Config, then markers from the farthest (module) to the closest (function)."""
    merged = dict(config)
    for marker in reversed(list(markers)):
        merged.update(marker.kwargs)
        if marker.args:
            merged["cassette"] = marker.args[0]
    return merged


def resolve_options(
    config: Mapping[str, Any],
    markers: Iterable[Any],
    *,
    cli_record_mode: str | None = None,
    cli_pace: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RtOptions:
    """Merge `rt_config`, `@pytest.mark.rtkit` kwargs and the command line.

    Record mode and pace: command line over marker over config. Upstream URL: the
    `RTKIT_UPSTREAM_URL` environment variable over marker over config over the live API.
    """
    markers = list(markers)
    environ = os.environ if environ is None else environ
    marker_kwargs = merge_marker_kwargs({}, markers)
    merged = merge_marker_kwargs(config, markers)
    unknown = set(merged) - _KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown rtkit option(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
    mode = resolve_record_mode(
        cli_record_mode, marker_kwargs.get("record_mode"), config.get("record_mode")
    )
    pace = parse_pace(cli_pace if cli_pace is not None else merged.get("pace", "instant"))
    upstream = environ.get(UPSTREAM_ENV) or merged.get("upstream_url") or DEFAULT_UPSTREAM_URL
    return RtOptions(
        record_mode=mode,
        pace=pace,
        upstream_url=str(upstream),
        cassette=merged.get("cassette"),
        vcr=bool(merged.get("vcr", False)),
        vcr_config=dict(merged.get("vcr_config") or {}),
        dialect=merged.get("dialect"),
        model=merged.get("model"),
        replay_options=dict(merged.get("replay_options") or {}),
        allow_unplayed=bool(merged.get("allow_unplayed", True)),
    )


def parse_pace(value: Any) -> float | str:
    """`instant` | `recorded` | a speed factor (2 = twice as fast as recorded)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"pace factor must be positive, got {value}")
        return float(value)
    text = str(value).strip().lower()
    if text in ("instant", "recorded"):
        return text
    try:
        return parse_pace(float(text.rstrip("x")))
    except ValueError:
        raise ValueError(
            f"invalid pace {value!r}: use 'instant', 'recorded' or a speed factor such as 2"
        ) from None


# --------------------------------------------------------------------------- naming


def default_cassette_name(test_class: type | None, test_name: str) -> str:
    """`Class.test_name[param]` with file-name-unsafe characters replaced, as pytest-recording.

    Names too long for the file system are shortened with a hash suffix.
    """
    name = f"{test_class.__name__}.{test_name}" if test_class else test_name
    for ch in r"<>?%*:|\"'/\\":
        name = name.replace(ch, "-")
    longest = max(len(CASSETTE_SUFFIX), len(HTTP_CASSETTE_SUFFIX))
    if len(name) + longest > MAX_FILENAME_LEN:
        digest = hashlib.md5(name.encode()).hexdigest()
        name = f"{name[: MAX_FILENAME_LEN - longest - len(digest) - 3]}...{digest}"
    return name


def cassette_path(directory: str | os.PathLike[str], name: str) -> Path:
    """`<directory>/<name>.jsonl` (a name ending in `.jsonl` or absolute is kept)."""
    path = Path(name)
    if not path.is_absolute():
        path = Path(directory) / path
    if path.suffix != CASSETTE_SUFFIX:
        path = path.with_name(path.name + CASSETTE_SUFFIX)
    return path


# --------------------------------------------------------------------------- API key


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `export` prefixes, quotes, `#` comments."""
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def find_api_key(
    search_dirs: Iterable[str | os.PathLike[str]], environ: Mapping[str, str] | None = None
) -> str | None:
    """`OPENAI_API_KEY` from the environment, else from the first `.env` that sets it."""
    environ = os.environ if environ is None else environ
    key = environ.get(API_KEY_ENV)
    if key:
        return key
    seen: set[Path] = set()
    for directory in search_dirs:
        path = (Path(directory) / ".env").resolve()
        if path in seen:
            continue
        seen.add(path)
        key = read_dotenv(path).get(API_KEY_ENV)
        if key:
            return key
    return None


def missing_key_message(cassette: Path, mode: RecordMode, upstream: str) -> str:
    """The failure text for a record mode without a key."""
    return (
        f"rtkit: record mode {mode.value!r} needs OPENAI_API_KEY to record {cassette}\n"
        f"from {upstream}, and none was found in the environment or a .env file.\n"
        "Set OPENAI_API_KEY, or run with --rt-record-mode=none to replay the existing cassette."
    )


# --------------------------------------------------------------------------- cassette handle


@dataclass
class RtCassette:
    """The `rt_cassette` fixture: where a test's cassette lives and what is done with it.

    `played` / `unplayed` come from the replay server once `rt_server` runs.
    """

    path: Path
    plan: RecordPlan
    options: RtOptions
    server: Any = None

    @property
    def mode(self) -> RecordMode:
        """The effective record mode."""
        return self.plan.mode

    @property
    def http_path(self) -> Path:
        """The vcrpy cassette for the test's HTTP traffic (used when `vcr=True`)."""
        return self.path.with_name(self.path.name[: -len(CASSETTE_SUFFIX)] + HTTP_CASSETTE_SUFFIX)

    @property
    def exists(self) -> bool:
        """True when the cassette file exists."""
        return self.path.exists()

    @property
    def recording(self) -> bool:
        """True when this test may open live connections."""
        return self.plan.record

    @property
    def played(self) -> list[int]:
        """Episodes (conn numbers) the replay server has served (empty while recording)."""
        return list(getattr(self.server, "played", None) or [])

    @property
    def unplayed(self) -> list[int]:
        """Recorded episodes no connection has asked for yet (empty while recording)."""
        return list(getattr(self.server, "unplayed", None) or [])

    def load(self) -> Any:
        """The cassette as a `rtkit.cassette.Cassette`."""
        from rtkit.cassette import Cassette

        return Cassette.load(self.path)


def make_cassette(path: Path, options: RtOptions) -> RtCassette:
    """Decide the plan for `path` (raises `MissingCassetteError` in `none` mode)."""
    return RtCassette(path, plan(options.record_mode, path.exists(), str(path)), options)


# --------------------------------------------------------------------------- background loop


class IOLoop:
    """One daemon thread running an asyncio loop for rtkit's servers (one per process)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def thread_id(self) -> int | None:
        """The loop thread's ident (None before the first use)."""
        return self._thread.ident if self._thread else None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="rtkit-io", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run `coro` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
        if not loop.is_running():
            loop.close()


io_loop = IOLoop()


# --------------------------------------------------------------------------- network allowance

_REAL_CONNECT = socket.socket.connect
_REAL_CONNECT_EX = socket.socket.connect_ex


def _is_loopback(host: Any) -> bool:
    if isinstance(host, (bytes, bytearray)):
        host = host.decode(errors="replace")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkAllowance:
    """Lets rtkit's own connections through a socket-level network blocker.

    When something (pytest-recording's `--block-network`) has replaced `socket.socket.connect`,
    this wraps it so that loopback connections to `ports` and every connection made from
    rtkit's IO thread (the recording proxy's upstream) use the real `connect`; everything else
    still goes through the blocker. A no-op when nothing blocks.
    """

    def __init__(self, ports: Iterable[int], io_thread_id: int | None) -> None:
        self.ports = set(ports)
        self.io_thread_id = io_thread_id
        self._saved: tuple[Any, Any] | None = None
        self._wrappers: tuple[Any, Any] | None = None

    def _allowed(self, sock: socket.socket, address: Any) -> bool:
        if self.io_thread_id is not None and threading.get_ident() == self.io_thread_id:
            return True
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            return _is_loopback(address[0]) and address[1] in self.ports
        return False

    def __enter__(self) -> NetworkAllowance:
        current, current_ex = socket.socket.connect, socket.socket.connect_ex
        if current is _REAL_CONNECT and current_ex is _REAL_CONNECT_EX:
            return self
        allowed = self._allowed

        def connect(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
            if allowed(sock, address):
                return _REAL_CONNECT(sock, address, *args, **kwargs)
            return current(sock, address, *args, **kwargs)

        def connect_ex(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
            if allowed(sock, address):
                return _REAL_CONNECT_EX(sock, address, *args, **kwargs)
            return current_ex(sock, address, *args, **kwargs)

        self._saved = (current, current_ex)
        self._wrappers = (connect, connect_ex)
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is None or self._wrappers is None:
            return
        if socket.socket.connect is self._wrappers[0]:
            socket.socket.connect = self._saved[0]  # type: ignore[method-assign]
        if socket.socket.connect_ex is self._wrappers[1]:
            socket.socket.connect_ex = self._saved[1]  # type: ignore[method-assign]
        self._saved = self._wrappers = None


# --------------------------------------------------------------------------- HTTP side (vcrpy)


@contextlib.contextmanager
def http_cassette(cassette: RtCassette) -> Iterator[Any]:
    """Record / replay the test's HTTP traffic with vcrpy, beside the WebSocket cassette."""
    import vcr

    from rtkit.record_mode import vcr_record_mode

    path = cassette.http_path
    if cassette.mode is RecordMode.REWRITE:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    config = dict(cassette.options.vcr_config)
    config.setdefault("filter_headers", ["authorization", "api-key", "openai-organization"])
    config.setdefault("record_mode", vcr_record_mode(cassette.mode))
    recorder = vcr.VCR()
    with recorder.use_cassette(str(path), **config) as vcr_cassette:
        yield vcr_cassette


# --------------------------------------------------------------------------- the per-test session


class RtSession:
    """One test's cassette, server and HTTP recorder; a context manager around the test.

    Replay modes start a `ReplayServer`, record modes a `RecordingProxy` (both on 127.0.0.1 in
    rtkit's background loop); `vcr=True` adds a vcrpy cassette for the HTTP side.
    """

    def __init__(self, cassette: RtCassette, search_dirs: Iterable[str | os.PathLike[str]]) -> None:
        self.cassette = cassette
        self.options = cassette.options
        self.search_dirs = list(search_dirs)
        self.api_key: str | None = None
        self.server: Any = None
        self._servers: list[Any] = []
        self._stack = contextlib.ExitStack()

    def precheck(self) -> str | None:
        """A failure message when the test cannot run (record mode without a key), else None."""
        if self.cassette.plan.record:
            self.api_key = find_api_key(self.search_dirs)
            if not self.api_key:
                return missing_key_message(
                    self.cassette.path, self.cassette.mode, self.options.upstream_url
                )
        return None

    # ----------------------------------------------------------------------- lifecycle

    def __enter__(self) -> RtSession:
        plan_ = self.cassette.plan
        path = self.cassette.path
        try:
            if plan_.delete_first:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if plan_.record:
                path.parent.mkdir(parents=True, exist_ok=True)
            if self.options.vcr:
                self._stack.enter_context(http_cassette(self.cassette))
            self._stack.callback(self._stop)
            self.server = io_loop.run(self._start())
            self.cassette.server = self.server
            self._stack.enter_context(NetworkAllowance(self._ports(), io_loop.thread_id))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # the replay server applies the unplayed policy (warn, or fail with allow_unplayed=False)
        self._stack.close()

    async def _start(self) -> Any:
        plan_ = self.cassette.plan
        if plan_.replay_only:
            return await self._enter(self._replay_server())
        if not plan_.hybrid:
            return await self._enter(self._recording_proxy())
        episodes = _episode_count(self.cassette.path)
        if episodes == 0:
            return await self._enter(self._recording_proxy())
        replay = await self._enter(self._replay_server())
        record = await self._enter(self._recording_proxy())
        return await self._enter(EpisodeRouter(replay, record, episodes))

    async def _enter(self, server: Any) -> Any:
        await server.__aenter__()
        self._servers.append(server)
        return server

    def _replay_server(self) -> Any:
        from rtkit.server.replay_server import ReplayServer

        options = {"unplayed": "warn" if self.options.allow_unplayed else "fail"}
        options.update(self.options.replay_options)
        return ReplayServer(str(self.cassette.path), pace=self.options.pace, **options)

    def _recording_proxy(self) -> Any:
        from rtkit.server.proxy import RecordingProxy

        return RecordingProxy(
            str(self.cassette.path),
            upstream_url=self.options.upstream_url,
            api_key=self.api_key,
            append=self.cassette.plan.keep_existing,
        )

    async def _stop_all(self) -> None:
        while self._servers:
            server = self._servers.pop()
            await server.__aexit__(None, None, None)

    def _stop(self) -> None:
        if self._servers:
            io_loop.run(self._stop_all())
        self.server = None

    def _ports(self) -> list[int]:
        from urllib.parse import urlsplit

        port = urlsplit(str(getattr(self.server, "url", ""))).port
        return [port] if port else []

    # ----------------------------------------------------------------------- results

    def mismatch(self) -> BaseException | None:
        """The first replay mismatch the server saw, if any."""
        server = self.server if self.server is not None else self.cassette.server
        errors = getattr(server, "errors", None) or []
        return errors[0] if errors else None

    def check(self) -> None:
        """Raise the first replay mismatch."""
        error = self.mismatch()
        if error is not None:
            self.reported(error)
            raise error

    def reported(self, error: BaseException) -> None:
        """The test failed with `error`: teardown must not raise it a second time."""
        for server in self._servers:
            player = getattr(server, "player", None)
            if player is not None:
                player.reported(error)

    @staticmethod
    def make_client(server: Any, cassette: RtCassette) -> Any:
        """A `RealtimeClient` pointed at `server` (not connected yet)."""
        from rtkit import RealtimeClient

        kwargs: dict[str, Any] = {"url": server.url, "api_key": "sk-rtkit-replay"}
        if cassette.options.model:
            kwargs["model"] = cassette.options.model
        dialect = cassette.options.dialect or _cassette_dialect(cassette)
        if dialect:
            kwargs["dialect"] = dialect
        return RealtimeClient(**kwargs)


def _episode_count(path: Path) -> int:
    """How many episodes (connections) the cassette at `path` holds."""
    from rtkit.cassette import Cassette

    return len(Cassette.load(path).episodes)


def _cassette_dialect(cassette: RtCassette) -> str | None:
    """The dialect the cassette's header names (None when unknown or not recorded yet)."""
    if not cassette.path.exists():
        return None
    import json

    with cassette.path.open(encoding="utf-8") as f:
        first = f.readline()
    try:
        header = json.loads(first)
    except ValueError:
        return None
    dialect = header.get("dialect") if isinstance(header, dict) else None
    return dialect if dialect in ("ga", "beta") else None


# --------------------------------------------------------------------------- new_episodes front


class EpisodeRouter:
    """`new_episodes` with a cassette: replay the recorded connections, record the new ones.

    A WebSocket front on 127.0.0.1 that bridges connection *k* to `replay` (a started replay
    server) while *k* < `recorded`, and to `record` (a started recording proxy) after that,
    forwarding path, query, the dialect header and subprotocols, frames both ways and the close.
    """

    def __init__(self, replay: Any, record: Any, recorded: int) -> None:
        self.replay = replay
        self.record = record
        self.recorded = recorded
        self.connections = 0
        self._server: Any = None
        self.url = ""
        self.ws_base_url = ""

    @property
    def played(self) -> list[Any]:
        """Events the replay server played."""
        return list(getattr(self.replay, "played", None) or [])

    @property
    def unplayed(self) -> list[Any]:
        """Recorded events the replay server did not play."""
        return list(getattr(self.replay, "unplayed", None) or [])

    @property
    def errors(self) -> list[BaseException]:
        """Replay mismatches."""
        return list(getattr(self.replay, "errors", None) or [])

    async def __aenter__(self) -> EpisodeRouter:
        from websockets.asyncio.server import serve

        self._server = await serve(self._bridge, "127.0.0.1", 0, select_subprotocol=_first_offered)
        port = self._server.sockets[0].getsockname()[1]
        self.ws_base_url = f"ws://127.0.0.1:{port}/v1"
        self.url = f"{self.ws_base_url}/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _bridge(self, downstream: Any) -> None:
        from urllib.parse import urlsplit

        from websockets.asyncio.client import connect

        from rtkit.transport.websocket import loopback_kwargs

        index, self.connections = self.connections, self.connections + 1
        target = self.replay if index < self.recorded else self.record
        base = urlsplit(str(target.url))
        path = downstream.request.path if downstream.request else "/v1/realtime"
        url = f"{base.scheme}://{base.netloc}{path}"
        headers = downstream.request.headers if downstream.request else {}
        extra = {k: v for k, v in headers.items() if k.lower() in _FORWARDED_HEADERS}
        offered = [
            p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()
        ]
        async with connect(
            url,
            additional_headers=extra,
            subprotocols=offered or None,  # type: ignore[arg-type]
            max_size=None,
            compression=None,
            **loopback_kwargs(url),
        ) as upstream:
            await _pump_both(downstream, upstream)


_FORWARDED_HEADERS = {"authorization", "openai-beta", "api-key", "openai-organization"}


def _first_offered(connection: Any, subprotocols: Any) -> Any:
    return subprotocols[0] if subprotocols else None


async def _pump_both(a: Any, b: Any) -> None:
    """Forward frames a -> b and b -> a until either side closes, then close the other."""
    from rtkit.transport.websocket import close_like


    async def pump(src: Any, dst: Any) -> None:
        try:
            async for message in src:
                await dst.send(message)
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                await close_like(dst, src.close_code, src.close_reason or "")

    tasks = [asyncio.ensure_future(pump(a, b)), asyncio.ensure_future(pump(b, a))]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.wait(tasks, timeout=5)
    for task in tasks:
        task.cancel()
