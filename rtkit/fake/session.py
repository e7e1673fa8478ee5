"""The fake's session configuration in both dialects: the defaults the live API reports in
`session.created`, the checks it applies to `session.update`, and views the fake needs."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from rtkit.audio import SAMPLE_RATE, AudioFormat, audio_format
from rtkit.fake.ids import IdSource
from rtkit.protocol.events import Dialect

__all__ = ["EXPIRES_AT", "Problem", "SessionState", "check_transcription_update", "check_update"]

EXPIRES_AT = 1_795_000_000  # a fixed expiry: a re-recording gives the same session

# GA `session` keys (openai.types.realtime.RealtimeSessionCreateRequest), plus what the server
# itself reports and a client may echo back
_GA_SESSION = frozenset({
    "type", "audio", "include", "instructions", "max_output_tokens", "model",
    "output_modalities", "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools",
    "tracing", "truncation", "object", "id", "expires_at",
})
_GA_AUDIO = {
    "": frozenset({"input", "output"}),
    "input": frozenset({"format", "noise_reduction", "transcription", "turn_detection"}),
    "output": frozenset({"format", "speed", "voice"}),
}
# GA transcription sessions (openai.types.realtime.RealtimeTranscriptionSessionCreateRequest)
_TRANSCRIPTION_SESSION = frozenset({"type", "audio", "include", "object", "id", "expires_at"})
_TRANSCRIPTION_AUDIO = {"": frozenset({"input"}), "input": _GA_AUDIO["input"]}
# beta `transcription_session.update` (openai.types.beta.realtime.transcription_session_update;
# its `client_secret` configures a REST-created session's key, not a WebSocket's session)
_BETA_TRANSCRIPTION = {
    "": frozenset({"input_audio_format", "input_audio_transcription", "turn_detection",
                   "input_audio_noise_reduction", "include", "modalities"}),
    "input_audio_transcription": frozenset({"model", "prompt", "language"}),
    "input_audio_noise_reduction": frozenset({"type"}),
    "turn_detection": frozenset({"type", "threshold", "prefix_padding_ms", "silence_duration_ms",
                                 "create_response", "interrupt_response", "eagerness"}),
}
_BETA_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")

SessionType = Literal["realtime", "transcription"]


@dataclass(frozen=True)
class Problem:
    """Why a client event is refused: the `error` event's code, message and param."""

    code: str
    message: str
    param: str | None = None


def check_update(dialect: Dialect, session: Any,
                 kind: SessionType = "realtime") -> Problem | None:
    """What the live API says about a `session.update` body on a connection whose session is
    of type `kind`, or None when it is accepted."""
    if not isinstance(session, dict):
        return Problem("missing_required_parameter", "Missing required parameter: 'session'.",
                       "session")
    if dialect == "beta":
        if kind == "transcription":
            return Problem("invalid_value", "Passing a session.update event to a transcription "
                           "session is not allowed: send transcription_session.update.", "type")
        return None
    if "type" not in session:  # checked first, as live: a seed-style update gets this error
        return Problem("missing_required_parameter",
                       "Missing required parameter: 'session.type'.", "session.type")
    if session["type"] not in ("realtime", "transcription"):
        return Problem("invalid_value",
                       f"Invalid value: '{session['type']}'. Supported values are: 'realtime' "
                       "and 'transcription'.", "session.type")
    if session["type"] != kind:
        return Problem("invalid_value",
                       f"Passing a {session['type']} session update event to a {kind} session "
                       f"is not allowed (connect with{'' if kind == 'realtime' else 'out'} "
                       "?intent=transcription for a transcription session).", "session.type")
    keys, audio_keys = ((_GA_SESSION, _GA_AUDIO) if kind == "realtime" else
                        (_TRANSCRIPTION_SESSION, _TRANSCRIPTION_AUDIO))
    for key in session:
        if key not in keys:
            return _unknown(f"session.{key}")
    audio = session.get("audio")
    if isinstance(audio, dict):
        for key, value in audio.items():
            if key not in audio_keys[""]:
                return _unknown(f"session.audio.{key}")
            for sub in value if isinstance(value, dict) else {}:
                if sub not in audio_keys[key]:
                    return _unknown(f"session.audio.{key}.{sub}")
    for direction in ("input", "output"):
        value = ((audio or {}).get(direction) or {}).get("format") if isinstance(
            audio, dict) else None
        problem = _check_format(value, f"session.audio.{direction}.format")
        if problem is not None:
            return problem
    return None


def check_transcription_update(session: Any, kind: SessionType) -> Problem | None:
    """What the beta API says about a `transcription_session.update` body on a connection
    whose session is of type `kind`, or None when it is accepted."""
    if kind != "transcription":
        return Problem("invalid_value", "Passing a transcription_session.update event to a "
                       "realtime session is not allowed (connect with ?intent=transcription "
                       "for a transcription session).", "type")
    if not isinstance(session, dict):
        return Problem("missing_required_parameter", "Missing required parameter: 'session'.",
                       "session")
    for key, value in session.items():
        if key not in _BETA_TRANSCRIPTION[""]:
            return _unknown(f"session.{key}")
        for sub in value if isinstance(value, dict) else {}:
            if sub not in _BETA_TRANSCRIPTION.get(key, ()):
                return _unknown(f"session.{key}.{sub}")
    value = session.get("input_audio_format")
    if value is not None and value not in _BETA_FORMATS:
        return Problem("invalid_value", f"Invalid value: '{value}'. Supported values are: "
                       f"{', '.join(map(repr, _BETA_FORMATS))}.", "session.input_audio_format")
    return None


def _check_format(value: Any, param: str) -> Problem | None:
    if value is None:
        return None
    try:
        audio_format(value)
    except ValueError:
        return Problem("invalid_value", f"Invalid value for '{param}': {value!r}.", param)
    return None


def _unknown(param: str) -> Problem:
    return Problem("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key == "format":  # a format object is replaced whole: pcmu has no rate
            base[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


_VAD = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "create_response": True,
    "interrupt_response": True,
}


def _ga_audio_input() -> dict[str, Any]:
    """The live defaults of a GA session's `audio.input` (realtime and transcription)."""
    return {
        "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": {**_VAD, "idle_timeout_ms": None},
    }


class SessionState:
    """One connection's session: `fields` is what `session.created` / `.updated` report.

    `kind` is `"transcription"` for a connection made with `?intent=transcription` (no
    responses, input audio is only transcribed; beta updates it with
    `transcription_session.update`), else `"realtime"`.
    """

    def __init__(self, dialect: Dialect, ids: IdSource, model: str,
                 kind: SessionType = "realtime") -> None:
        self.dialect = dialect
        self.kind: SessionType = kind
        self.fields = self._defaults(ids, model)

    def snapshot(self) -> dict[str, Any]:
        """A copy of the session, for an event."""
        return copy.deepcopy(self.fields)

    def update(self, session: dict[str, Any]) -> None:
        """Apply an accepted `session.update` (check it with `check_update` first)."""
        _deep_merge(self.fields, session)

    @property
    def audio_out(self) -> bool:
        """Whether responses speak (unless a response asks otherwise)."""
        key = "output_modalities" if self.dialect == "ga" else "modalities"
        return "audio" in (self.fields.get(key) or [])

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        """The turn detection config (None: manual turns)."""
        if self.dialect == "ga":
            return ((self.fields.get("audio") or {}).get("input") or {}).get("turn_detection")
        return self.fields.get("turn_detection")

    @property
    def transcription(self) -> dict[str, Any] | None:
        """The input transcription config (None: off)."""
        if self.dialect == "ga":
            return ((self.fields.get("audio") or {}).get("input") or {}).get("transcription")
        return self.fields.get("input_audio_transcription")

    @property
    def input_format(self) -> AudioFormat:
        """The input audio's format (PCM16 24 kHz, or G.711 at 8 kHz)."""
        return audio_format(self._format("input"))

    @property
    def output_format(self) -> AudioFormat:
        """The output audio's format."""
        return audio_format(self._format("output"))

    def _format(self, direction: str) -> Any:
        if self.dialect == "ga":
            return ((self.fields.get("audio") or {}).get(direction) or {}).get("format")
        return self.fields.get(f"{direction}_audio_format")

    @property
    def voice(self) -> str:
        """The output voice."""
        if self.dialect == "ga":
            output = (self.fields.get("audio") or {}).get("output") or {}
            return str(output.get("voice") or "alloy")
        return str(self.fields.get("voice") or "alloy")

    def _defaults(self, ids: IdSource, model: str) -> dict[str, Any]:
        if self.kind == "transcription" and self.dialect == "beta":
            return {
                "id": ids.make("sess_"),
                "object": "realtime.transcription_session",
                "expires_at": EXPIRES_AT,
                "modalities": ["text"],
                "input_audio_format": "pcm16",
                "input_audio_transcription": None,
                "turn_detection": {k: v for k, v in _VAD.items()
                                   if k not in ("create_response", "interrupt_response")},
                "input_audio_noise_reduction": None,
                "include": None,
                # the SDK's TranscriptionSession requires the key a REST-created session has;
                # a WebSocket session has none: an empty placeholder, never a key
                "client_secret": {"value": "", "expires_at": EXPIRES_AT},
            }
        if self.kind == "transcription":
            return {
                "type": "transcription",
                "object": "realtime.transcription_session",
                "id": ids.make("sess_"),
                "expires_at": EXPIRES_AT,
                "audio": {"input": _ga_audio_input()},
                "include": None,
            }
        if self.dialect == "ga":
            return {
                "type": "realtime",
                "object": "realtime.session",
                "id": ids.make("sess_"),
                "model": model,
                "output_modalities": ["audio"],
                "instructions": "You are a helpful assistant.",
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "truncation": "auto",
                "prompt": None,
                "expires_at": EXPIRES_AT,
                "audio": {
                    "input": _ga_audio_input(),
                    "output": {
                        "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                        "voice": "alloy",
                        "speed": 1.0,
                    },
                },
                "include": None,
            }
        return {
            "id": ids.make("sess_"),
            "object": "realtime.session",
            "model": model,
            "expires_at": EXPIRES_AT,
            "modalities": ["text", "audio"],
            "instructions": "You are a helpful assistant.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": dict(_VAD),
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": None,
            "input_audio_noise_reduction": None,
            "client_secret": None,
        }
