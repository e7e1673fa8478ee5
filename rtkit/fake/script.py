"""The fake API's script: what it answers, chosen by rules (YAML, a dict or Python objects).

```yaml
rules:                                  # first match wins
  - when: {text: weather}               # the user's text contains this (any case)
    reply: {function_call: {name: get_weather, arguments: {location: Paris}}}
  - when: {tool_output: sunny}          # a function_call_output contains this
    reply: {text: It is sunny in Paris.}
default: {text: OK.}                    # when no rule matches
```

See docs/fake.md for every key.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from rtkit.audio import SAMPLE_RATE, read_wav
from rtkit.errors import RtkitError
from rtkit.fake.speech import MS_PER_WORD, tone, words

__all__ = [
    "ErrorReply",
    "FakeScript",
    "FakeScriptError",
    "FunctionCall",
    "Reply",
    "Rule",
    "ScriptSource",
    "Turn",
    "When",
    "load_script",
]

VOICE_HZ = 180.0  # the generated voice's pitch


class FakeScriptError(RtkitError):
    """The script cannot be read or is not valid; the message names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    """The model calls a function: `name` and `arguments` (a mapping, sent as JSON, or a
    string sent as is)."""

    name: str
    arguments: Any = Field(default_factory=dict)

    @model_validator(mode="after")
    def _arguments_shape(self) -> FunctionCall:
        if not isinstance(self.arguments, (dict, str)):
            raise ValueError("arguments: expected a mapping or a JSON string")
        return self

    def arguments_json(self) -> str:
        """The arguments as the model streams them."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


class ErrorReply(_Strict):
    """Answer with an `error` event instead of a response."""

    code: str
    message: str
    type: str = "invalid_request_error"
    param: str | None = None


_REPLY_KINDS = ("text (with audio_ms or audio_wav), function_call, function_calls, error or "
                "events")


class Reply(_Strict):
    """One answer: a message (`text`, spoken when the session outputs audio), a function call,
    several function calls in one response (`function_calls`, as GA models call tools in
    parallel), an `error` event, or raw server `events` sent as they are."""

    text: str | None = None
    audio_ms: int | None = Field(None, ge=0)
    audio_wav: str | None = None
    function_call: FunctionCall | None = None
    function_calls: list[FunctionCall] | None = Field(None, min_length=1)
    error: ErrorReply | None = None
    events: list[dict[str, Any]] | None = None

    _samples: np.ndarray | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _one_kind(self) -> Reply:
        message = any(v is not None for v in (self.text, self.audio_ms, self.audio_wav))
        kinds = [k for k, given in (("text", message),
                                    ("function_call", self.function_call is not None),
                                    ("function_calls", self.function_calls is not None),
                                    ("error", self.error is not None),
                                    ("events", self.events is not None)) if given]
        if len(kinds) != 1:
            got = f"got {', '.join(kinds)}" if kinds else "got none"
            raise ValueError(f"a reply is exactly one of {_REPLY_KINDS} ({got})")
        if self.audio_ms is not None and self.audio_wav is not None:
            raise ValueError("give audio_ms (a generated tone) or audio_wav, not both")
        for n, event in enumerate(self.events or []):
            if not isinstance(event.get("type"), str):
                raise ValueError(f"events[{n}]: a server event needs a \"type\"")
        return self

    @property
    def kind(self) -> Literal["message", "function_call", "error", "events"]:
        """What the reply is (`function_calls` is a `function_call` reply too)."""
        if self.function_call is not None or self.function_calls is not None:
            return "function_call"
        if self.error is not None:
            return "error"
        if self.events is not None:
            return "events"
        return "message"

    def speech(self) -> np.ndarray:
        """The audio of a spoken reply: the WAV file, or a tone of `audio_ms` (default
        300 ms a word of `text`)."""
        if self.audio_wav is not None:
            if self._samples is None:
                self._samples = _read_speech(Path(self.audio_wav))
            return self._samples
        ms = self.audio_ms
        if ms is None:
            ms = MS_PER_WORD * len(words(self.text or ""))
        return tone(ms, freq=VOICE_HZ)

    def calls(self) -> list[FunctionCall]:
        """The function calls of a `function_call` / `function_calls` reply, in order."""
        if self.function_call is not None:
            return [self.function_call]
        return list(self.function_calls or [])


class When(_Strict):
    """The conditions of a rule; all that are given must hold."""

    text: str | None = None  # the user's text contains this, in any case
    regex: str | None = None  # re.search on the user's text
    tool_output: str | None = None  # a function_call_output's output contains this, any case
    response: int | None = Field(None, ge=1)  # the Nth response of the connection

    @model_validator(mode="after")
    def _some_condition(self) -> When:
        if all(v is None for v in (self.text, self.regex, self.tool_output, self.response)):
            raise ValueError("give at least one of text, regex, tool_output, response "
                             "(a reply without a condition is the script's `default`)")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex: not a valid regular expression: {exc}") from None
        return self

    def matches(self, turn: Turn) -> bool:
        """Whether `turn` meets every condition."""
        user = turn.user_text.lower()
        if self.text is not None and self.text.lower() not in user:
            return False
        if self.regex is not None and re.search(self.regex, turn.user_text) is None:
            return False
        if self.tool_output is not None and not any(
                self.tool_output.lower() in out.lower() for out in turn.tool_outputs):
            return False
        return self.response is None or self.response == turn.number


class Rule(_Strict):
    """`when` these conditions hold, answer with `reply`."""

    when: When
    reply: Reply


@dataclass(frozen=True)
class Turn:
    """What a response answers: the input that arrived since the previous response."""

    user_text: str = ""
    tool_outputs: tuple[str, ...] = ()
    number: int = 1  # 1 for the first response of the connection


class FakeScript(_Strict):
    """The whole script. Every connection starts from it afresh."""

    model: str = "gpt-realtime"  # the session's model when the URL names none
    dialect: Literal["auto", "ga", "beta"] = "auto"
    seed: str = "rtkit-fake"  # ids are drawn from a generator seeded with this
    delta_ms: float = Field(15.0, ge=0)  # pause between streamed deltas
    transcripts: list[str] = Field(default_factory=list)  # what each committed audio says
    rules: list[Rule] = Field(default_factory=list)
    default: Reply = Field(default_factory=lambda: Reply(text="OK."))

    def choose(self, turn: Turn) -> Reply:
        """The first rule that matches `turn`, else the default."""
        for rule in self.rules:
            if rule.when.matches(turn):
                return rule.reply
        return self.default

    def replies(self) -> list[tuple[str, Reply]]:
        """Every reply with where it sits in the script (`rules.0.reply`, `default`)."""
        return [*((f"rules.{n}.reply", r.reply) for n, r in enumerate(self.rules)),
                ("default", self.default)]


ScriptSource = FakeScript | Mapping[str, Any] | str | os.PathLike


def load_script(source: ScriptSource | None) -> FakeScript:
    """A checked script from a YAML file's path, a mapping or a `FakeScript` (None: the
    default script). WAV files are read now, relative to the script's directory."""
    if isinstance(source, FakeScript):
        script, name, base = source, "script", Path.cwd()
    elif source is None or isinstance(source, Mapping):
        script, name, base = _validate(dict(source or {}), "script", None), "script", Path.cwd()
    else:
        path = Path(source)
        script, name, base = _from_file(path), str(path), path.parent
    for where, reply in script.replies():
        if reply.audio_wav is not None:
            wav = Path(reply.audio_wav)
            wav = wav if wav.is_absolute() else base / wav
            try:
                reply._samples = _read_speech(wav)
            except FakeScriptError as exc:
                raise FakeScriptError(f"{name}: {where}.audio_wav: {exc}") from None
            reply.audio_wav = str(wav)
    return script


def _read_speech(wav: Path) -> np.ndarray:
    if not wav.is_file():
        raise FakeScriptError(f"no such file {wav}")
    try:
        samples, rate = read_wav(wav)
    except ValueError as exc:
        raise FakeScriptError(str(exc)) from None
    if rate != SAMPLE_RATE:
        raise FakeScriptError(f"{wav} is {rate} Hz; the fake speaks PCM16 at {SAMPLE_RATE} Hz "
                              "mono (e.g. sox in.wav -r 24000 -c 1 -b 16 out.wav)")
    return samples


def _from_file(path: Path) -> FakeScript:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FakeScriptError(f"{path}: cannot read the script: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise FakeScriptError(f"{path}{where}: not valid YAML: "
                              f"{getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FakeScriptError(f"{path}: a script is a mapping (rules:, default:, ...), "
                              f"not a {type(data).__name__}")
    return _validate(data, str(path), node)


def _validate(data: dict[str, Any], name: str, node: yaml.Node | None) -> FakeScript:
    try:
        return FakeScript.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, int) or "[" not in p)
            where = ".".join(str(p) for p in loc) or "the script"
            if error["type"] == "extra_forbidden":
                fields = ", ".join(_model_at(loc[:-1]).model_fields)
                message = f"unknown key (expected one of {fields})"
            else:
                message = error["msg"].removeprefix("Value error, ")
            line = _line_of(node, loc) if node is not None else None
            problems.append(f"{name}{f':{line}' if line else ''}: {where}: {message}")
        raise FakeScriptError("\n".join(problems)) from None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model class that holds the field at `loc` (for listing its keys)."""
    model: type[BaseModel] = FakeScript
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        found = _model_in(field.annotation)
        if found is None:
            break
        model = found
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node on the path `loc`."""
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if child is not None and part == loc[-1]:
                key = next(k for k, v in node.value if v is child)
                return key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1
