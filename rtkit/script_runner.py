"""Record a session from a small declarative YAML script (`rtkit record --script`).

The script sets up the session and tools, then runs steps: user text (`say`), user audio from
a WAV file (`audio`), waits, and raw client events (`send`). rtkit's own `RealtimeClient`
plays it over a `RecordingTransport`, so the cassette is written atomically and keeps what was
recorded before a failure. See docs/cli.md for the format.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rtkit.audio import SAMPLE_RATE, read_wav
from rtkit.errors import RtkitError

__all__ = ["RecordResult", "Script", "ScriptError", "load_script", "record_script"]

DEFAULT_TIMEOUT = 30.0
_AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})


class ScriptError(RtkitError):
    """The script cannot be read or is not valid; the message names the file and step."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tool(BaseModel):
    """A function tool; `output` is what the tool returns to the model, every time."""

    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output: Any = None

    def definition(self) -> dict[str, Any]:
        """The tool definition sent in the session."""
        extra = {k: v for k, v in (self.model_extra or {}).items() if k != "type"}
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters, **extra}


class WaitFor(_Strict):
    """Wait for a server event type (e.g. `response.done`)."""

    event: str
    timeout: float | None = None


class Step(_Strict):
    """One step: exactly one of `say`, `audio`, `wait`, `send`."""

    say: str | None = None
    audio: str | None = None
    wait: float | Literal["response"] | WaitFor | None = None
    send: dict[str, Any] | None = None
    respond: bool = True  # after say / audio: ask for a response (manual turns) and wait for it
    chunk_ms: int = Field(100, gt=0)  # audio is appended in chunks of this length

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [k for k in ("say", "audio", "wait", "send") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a step has exactly one of say, audio, wait, send "
                             f"(got {', '.join(given) or 'none'})")
        if self.send is not None and not isinstance(self.send.get("type"), str):
            raise ValueError("send: needs a client event with a \"type\"")
        return self

    @property
    def kind(self) -> str:
        """say, audio, wait or send."""
        return next(k for k in ("say", "audio", "wait", "send") if getattr(self, k) is not None)


class Script(_Strict):
    """A recording script."""

    model: str = "gpt-realtime"
    dialect: Literal["ga", "beta"] = "ga"
    session: dict[str, Any] = Field(default_factory=dict)
    tools: list[Tool] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0)  # for each wait


def _where(loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:] if not str(p).startswith("function-"))
        return f"step {loc[1] + 1}" + (f" ({rest})" if rest else "")
    return ".".join(str(p) for p in loc) or "the script"


def load_script(path: str | os.PathLike[str]) -> Script:
    """Read and validate a script; errors name the file, the step and the field."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScriptError(f"{p}: cannot read the script: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ScriptError(f"{p}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ScriptError(f"{p}: a script is a mapping with at least `steps:`")
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for e in exc.errors():
            loc = tuple(e["loc"])
            if loc[:1] == ("steps",) and len(loc) > 3 and loc[2] == "wait":
                problems[_where(loc[:3])] = (f"expected seconds, 'response' or "
                                             f"{{event: TYPE, timeout: SECONDS}}, not "
                                             f"{e.get('input')!r}")
            elif e["type"] == "extra_forbidden":
                allowed = (Step if loc[:1] == ("steps",) else Script).model_fields
                problems.setdefault(_where(loc), f"unknown key (expected one of "
                                                 f"{', '.join(allowed)})")
            else:
                problems.setdefault(_where(loc), e["msg"])
        raise ScriptError(f"{p}: " + "; ".join(f"{k}: {v}" for k, v in problems.items())) from None
    for n, step in enumerate(script.steps, start=1):
        if step.audio is not None:
            _load_audio(p, n, step.audio)  # fail before connecting, not halfway through
    return script


def _load_audio(script: Path, n: int, name: str) -> Any:
    wav = (script.parent / name) if not os.path.isabs(name) else Path(name)
    if not wav.is_file():
        raise ScriptError(f"{script}: step {n} (audio): no such file {wav}")
    try:
        samples, rate = read_wav(wav)
    except ValueError as exc:
        raise ScriptError(f"{script}: step {n} (audio): {exc}") from None
    if rate != SAMPLE_RATE:
        raise ScriptError(f"{script}: step {n} (audio): {wav} is {rate} Hz; the Realtime API "
                          f"takes PCM16 at {SAMPLE_RATE} Hz mono (e.g. sox in.wav -r 24000 "
                          "-c 1 -b 16 out.wav)")
    return samples


@dataclass
class RecordResult:
    """What was recorded."""

    output: Path
    client_events: int = 0
    server_events: int = 0
    audio_seconds: float = 0.0
    errors: int = 0

    def line(self) -> str:
        """The summary printed at the end."""
        return (f"recorded {self.client_events} client and {self.server_events} server events, "
                f"{self.audio_seconds:.1f} s of output audio, {self.errors} error event(s) "
                f"to {self.output}")


class _Run:
    def __init__(self, script: Script, path: Path, client: Any, result: RecordResult,
                 progress: Callable[[str], None]) -> None:
        self.script, self.path, self.client = script, path, client
        self.result, self.progress = result, progress
        self.step = ""
        self.waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        client.on("realtime.event", self.on_event)

    def on_event(self, payload: dict[str, Any]) -> None:
        event, source = payload["event"], payload["source"]
        if source == "client":
            self.result.client_events += 1
        else:
            self.result.server_events += 1
            kind = event.get("type")
            if kind in _AUDIO_DELTAS:
                fmt = self.client.output_format  # 24 kHz PCM16, or 8 kHz G.711
                delta = event.get("delta")
                if isinstance(delta, str):
                    self.result.audio_seconds += fmt.base64_sample_count(delta) / fmt.rate
            elif kind == "error":
                self.result.errors += 1
            for name, future in list(self.waiters):
                if name == kind and not future.done():
                    future.set_result(event)
        self.progress(f"{self.step} | {self.result.client_events + self.result.server_events} "
                      f"events | {self.result.audio_seconds:.1f} s audio")

    def expect(self, event_type: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters.append((event_type, future))
        return future

    async def wait(self, future: asyncio.Future[dict[str, Any]], what: str, n: int,
                   timeout: float | None) -> dict[str, Any]:
        limit = timeout if timeout is not None else self.script.timeout
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise TimeoutError(f"{self.path}: step {n} ({self.step}): no {what} within "
                               f"{limit:g} s") from None
        finally:
            self.waiters = [(k, f) for k, f in self.waiters if f is not future]

    async def turn(self, n: int, act: Callable[[], None], respond: bool) -> None:
        """Do `act` and, if asked to respond, wait until the model is done, following the tool
        calls the client answers on its own."""
        done = self.expect("response.done")
        act()
        if not respond:
            self.waiters = [(k, f) for k, f in self.waiters if f is not done]
            return
        while True:
            event = await self.wait(done, "response.done", n, None)
            output = (event.get("response") or {}).get("output") or []
            calls = [o for o in output if o.get("type") == "function_call"
                     and o.get("name") in self.client.tools]
            if not calls:
                return
            done = self.expect("response.done")  # the client answers and asks again

    async def run_step(self, n: int, step: Step) -> None:
        kind = step.kind
        label = {"say": step.say, "audio": step.audio, "send": (step.send or {}).get("type"),
                 "wait": step.wait if not isinstance(step.wait, WaitFor) else step.wait.event}
        self.step = f"step {n}/{len(self.script.steps)} {kind} {str(label[kind])[:30]}"
        self.progress(self.step)
        if step.say is not None:
            content = [{"type": "input_text", "text": step.say}]
            if step.respond:  # the client's send_user_message_content asks for the response
                await self.turn(n, lambda: self.client.send_user_message_content(content), True)
            else:
                self.client.realtime.send("conversation.item.create", {"item": {
                    "type": "message", "role": "user", "content": content}})
        elif step.audio is not None:
            samples = _load_audio(self.path, n, step.audio)
            chunk = SAMPLE_RATE * step.chunk_ms // 1000

            def append() -> None:
                for start in range(0, len(samples), chunk):
                    self.client.append_input_audio(samples[start:start + chunk])
                if step.respond and self.client.get_turn_detection_type() is None:
                    self.client.create_response()  # manual turns: commit and ask

            await self.turn(n, append, step.respond)
        elif step.send is not None:
            send = dict(step.send)
            self.client.realtime.send(send.pop("type"), send)
        elif isinstance(step.wait, WaitFor):
            await self.wait(self.expect(step.wait.event), step.wait.event, n, step.wait.timeout)
        elif step.wait == "response":
            await self.wait(self.expect("response.done"), "response.done", n, None)
        else:
            await asyncio.sleep(float(step.wait))  # type: ignore[arg-type]


async def record_script(
    script_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    upstream: str,
    api_key: str | None,
    progress: Callable[[str], None] | None = None,
) -> RecordResult:
    """Run the script against `upstream` with rtkit's client and record it to `output`."""
    from rtkit.client.client import RealtimeClient
    from rtkit.transport.recording import RecordingTransport
    from rtkit.transport.websocket import WebSocketTransport

    path = Path(script_path)
    script = load_script(path)
    result = RecordResult(Path(output))
    transport = RecordingTransport(WebSocketTransport(), output, dialect=script.dialect,
                                   model=script.model, meta={"recorded_by": "rtkit record "
                                                             f"--script {path.name}"})
    client = RealtimeClient(url=upstream, api_key=api_key, model=script.model,
                            dialect=script.dialect, transport=transport)
    for tool in script.tools:
        output_value = tool.output
        client.add_tool(tool.definition(), lambda _args, _v=output_value: _v)
    if script.session:
        client.update_session(**script.session)
    runner = _Run(script, path, client, result, progress or (lambda _line: None))
    async with transport:
        await client.connect()
        try:
            await client.wait_for_session_created(script.timeout)
            for n, step in enumerate(script.steps, start=1):
                await runner.run_step(n, step)
        finally:
            await client.disconnect()
    return result
