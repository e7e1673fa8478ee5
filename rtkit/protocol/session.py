"""Session configuration: flat fields (the seed's names, or GA's), shaped for each dialect.

The reference client keeps its session config as flat fields (``voice``, ``modalities``,
``turn_detection``, ...), which is exactly the beta ``session.update`` shape. GA nests audio
settings under ``audio.input`` / ``audio.output`` and renames a few fields (see
PROTOCOL.md "Session configuration"). :func:`normalize_session_fields` accepts the seed's flat
names, the beta session's other fields and every field of GA's session
(``openai.types.realtime.RealtimeSessionCreateRequest``), GA names included (``audio``,
``output_modalities``, ``max_output_tokens``, plus ``noise_reduction`` for
``audio.input.noise_reduction``), and keeps them under one *canonical* flat name each (the
beta name where beta has one). :func:`build_session` produces the ``session`` object of a
``session.update`` for either dialect.

GA differences worth knowing:

- ``modalities`` becomes ``output_modalities``, which GA accepts only as ``["audio"]`` or
  ``["text"]``; any list containing ``"audio"`` maps to ``["audio"]`` (audio responses carry a
  transcript anyway), anything else to ``["text"]``. GA's ``output_modalities=["audio"]`` is
  kept as the seed's ``["text", "audio"]``.
- ``temperature`` is dropped: the GA session has no such field and the live API rejects it as
  ``unknown_parameter``.
- Format names map to objects: ``"pcm16"`` -> ``{"type": "audio/pcm", "rate": 24000}``,
  ``"g711_ulaw"`` -> ``{"type": "audio/pcmu"}``, ``"g711_alaw"`` -> ``{"type": "audio/pcma"}``
  (and GA's objects back to the names).
- ``None`` values are omitted, except ``turn_detection``, ``input_audio_transcription``,
  ``input_audio_noise_reduction`` and ``tracing``, where ``null`` means "off" and is sent as such.
- Fields only GA has (:data:`GA_ONLY_SESSION_FIELDS`: ``include``, ``prompt``, ``reasoning``,
  ``parallel_tool_calls``, ``truncation``, ``type``) raise ``ValueError`` for beta, naming the
  field and the dialect.

In both dialects ``turn_detection={"type": "none"}`` (as the seed README writes it) means manual
turn mode and is sent as ``null`` (the seed sent ``"none"``, which the server rejects).

A GA *transcription* session (``type="transcription"``,
``openai.types.realtime.RealtimeTranscriptionSessionCreateRequest``) takes only
:data:`TRANSCRIPTION_SESSION_FIELDS`: ``audio.input`` (format, noise reduction, transcription,
turn detection) and ``include``. :func:`build_session` leaves every other field out of it (the
seed's defaults for output, instructions, tools... do not apply to a session that never
answers; ``RealtimeClient.update_session`` refuses the ones an app sets explicitly).
In the beta dialect ``type="transcription"`` gives the ``session`` of a
``transcription_session.update`` instead: the flat
:data:`BETA_TRANSCRIPTION_SESSION_FIELDS` (``input_audio_format``,
``input_audio_transcription``, ``turn_detection``, ``input_audio_noise_reduction``,
``include``), no ``type``; any other ``type`` stays GA-only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from rtkit.protocol.events import Dialect

__all__ = [
    "ACCEPTED_SESSION_FIELDS",
    "BETA_ONLY_SESSION_FIELDS",
    "BETA_TRANSCRIPTION_SESSION_FIELDS",
    "CANONICAL_SESSION_FIELDS",
    "FORMAT_TO_GA",
    "GA_ONLY_SESSION_FIELDS",
    "GA_SESSION_ALIASES",
    "SESSION_FIELDS",
    "TRANSCRIPTION_SESSION_FIELDS",
    "audio_format_of",
    "build_session",
    "is_manual_turn_detection",
    "is_transcription",
    "normalize_session_fields",
    "normalize_turn_detection",
    "turn_detection_of",
]

SESSION_FIELDS: frozenset[str] = frozenset(
    {
        "instructions",
        "voice",
        "modalities",
        "turn_detection",
        "input_audio_transcription",
        "input_audio_format",
        "output_audio_format",
        "tools",
        "tool_choice",
        "temperature",
        "max_response_output_tokens",
    }
)
"""The seed client's flat session fields (its ``updateSession`` accepts these)."""

_BETA_EXTRA_FIELDS = frozenset({"input_audio_noise_reduction", "speed", "tracing", "model"})

GA_ONLY_SESSION_FIELDS: frozenset[str] = frozenset(
    {"type", "include", "prompt", "reasoning", "parallel_tool_calls", "truncation"}
)
"""Session fields only the GA dialect has (beta rejects them)."""

BETA_ONLY_SESSION_FIELDS: frozenset[str] = frozenset({"temperature"})
"""Session fields only beta has (left out of GA sessions: the live API rejects them)."""

CANONICAL_SESSION_FIELDS: frozenset[str] = (
    SESSION_FIELDS | _BETA_EXTRA_FIELDS | GA_ONLY_SESSION_FIELDS
)
"""The names session fields are kept under: the beta name where beta has the field."""

TRANSCRIPTION_SESSION_FIELDS: frozenset[str] = frozenset(
    {"type", "input_audio_format", "input_audio_noise_reduction", "input_audio_transcription",
     "turn_detection", "include"}
)
"""The canonical fields a GA transcription session takes (``audio.input.*``, ``include``)."""

BETA_TRANSCRIPTION_SESSION_FIELDS: frozenset[str] = TRANSCRIPTION_SESSION_FIELDS - {"type"}
"""The fields of a beta ``transcription_session.update``'s ``session``
(``openai.types.beta.realtime.transcription_session_update.Session``, which names no type)."""

GA_SESSION_ALIASES: dict[str, str] = {
    "output_modalities": "modalities",
    "max_output_tokens": "max_response_output_tokens",
    "noise_reduction": "input_audio_noise_reduction",
}
"""GA (or GA-nested) names and the canonical flat name each one sets."""

# audio.<direction>.<key> (GA) -> canonical flat name
_GA_AUDIO_FIELDS: dict[tuple[str, str], str] = {
    ("input", "format"): "input_audio_format",
    ("input", "noise_reduction"): "input_audio_noise_reduction",
    ("input", "transcription"): "input_audio_transcription",
    ("input", "turn_detection"): "turn_detection",
    ("output", "format"): "output_audio_format",
    ("output", "speed"): "speed",
    ("output", "voice"): "voice",
}

ACCEPTED_SESSION_FIELDS: frozenset[str] = (
    CANONICAL_SESSION_FIELDS | frozenset(GA_SESSION_ALIASES) | {"audio"}
)
"""Every name ``normalize_session_fields`` (and ``RealtimeClient.update_session``) accepts."""

# Fields where ``None`` means "off" and is sent as ``null``.
_NULL_MEANS_OFF = frozenset(
    {"turn_detection", "input_audio_transcription", "input_audio_noise_reduction", "tracing"}
)

FORMAT_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
"""Beta audio format names and the GA format objects they become."""

_GA_FORMAT_NAMES = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def normalize_turn_detection(value: Any) -> Any:
    """``None`` for manual mode (``None`` or ``{"type": "none"}``), else a copy of ``value``."""
    if value is None:
        return None
    if isinstance(value, Mapping) and value.get("type") in (None, "none"):
        return None
    return copy.deepcopy(dict(value)) if isinstance(value, Mapping) else copy.deepcopy(value)


def turn_detection_of(fields: Mapping[str, Any]) -> Any:
    """The turn detection of flat fields, or of a GA-shaped session
    (``audio.input.turn_detection``); ``None`` when it has none."""
    if "turn_detection" in fields:
        return fields["turn_detection"]
    audio = fields.get("audio") or {}
    return (audio.get("input") or {}).get("turn_detection")


def audio_format_of(fields: Mapping[str, Any], direction: str) -> Any:
    """The ``input`` or ``output`` audio format of flat fields or of a session as a server
    reports it (GA ``audio.<direction>.format``, beta ``<direction>_audio_format``); None when
    it names none."""
    flat = f"{direction}_audio_format"
    if flat in fields:
        return fields[flat]
    audio = fields.get("audio")
    config = audio.get(direction) if isinstance(audio, Mapping) else None
    return config.get("format") if isinstance(config, Mapping) else None


def is_transcription(fields: Mapping[str, Any]) -> bool:
    """Whether flat fields (or a server's session) describe a transcription session."""
    return fields.get("type") == "transcription"


def is_manual_turn_detection(fields: Mapping[str, Any]) -> bool:
    """Whether a session config is in manual turn mode (no server VAD).

    Accepts the flat fields, or a GA-shaped session (``audio.input.turn_detection``).
    A missing ``turn_detection`` means manual, the seed's default.
    """
    return normalize_turn_detection(turn_detection_of(fields)) is None


def _seed_format(value: Any) -> Any:
    """A GA format object as the seed's format name where one means the same."""
    if isinstance(value, Mapping):
        name = _GA_FORMAT_NAMES.get(str(value.get("type")))
        rate = value.get("rate")
        if name is not None and (rate is None or name != "pcm16" or rate == 24000):
            extra = set(value) - {"type", "rate"}
            if not extra:
                return name
    return copy.deepcopy(value)


def _seed_modalities(value: Any) -> Any:
    """GA ``output_modalities`` as the seed's ``modalities``."""
    if isinstance(value, list | tuple):
        return ["text", "audio"] if "audio" in value else ["text"]
    return copy.deepcopy(value)


def once_each(out: dict[str, Any], what: str) -> Callable[[str, Any, str], None]:
    """A setter of ``out[canonical] = value`` that refuses a second name for one field (``what``
    names the kind in the error: ``session field``, ``response option``)."""
    given_as: dict[str, str] = {}

    def put(canonical: str, value: Any, name: str) -> None:
        if canonical in given_as:
            raise ValueError(f"{what} {name!r} sets {canonical!r}, which "
                             f"{given_as[canonical]!r} already sets; give it once")
        given_as[canonical] = name
        out[canonical] = value

    return put


def normalize_session_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical flat fields for ``fields``, given under any accepted name.

    Accepts :data:`ACCEPTED_SESSION_FIELDS`: the seed's and beta's flat names, every GA session
    field, GA's ``audio`` object (split into its fields) and :data:`GA_SESSION_ALIASES`. Raises
    ``ValueError`` naming the field for an unknown name, and for a field given twice under two
    names. The result shares no mutable objects with ``fields``.
    """
    out: dict[str, Any] = {}
    put = once_each(out, "session field")
    for name, value in fields.items():
        if name == "audio":
            if not isinstance(value, Mapping):
                raise ValueError(f"session field 'audio' must be an object, not {value!r}")
            for direction, settings in value.items():
                if direction not in ("input", "output") or not isinstance(settings, Mapping):
                    raise ValueError(f"unknown session field 'audio.{direction}'; expected "
                                     "'audio.input' or 'audio.output' objects")
                for key, inner in settings.items():
                    canonical = _GA_AUDIO_FIELDS.get((direction, key))
                    if canonical is None:
                        known = ", ".join(k for d, k in _GA_AUDIO_FIELDS if d == direction)
                        raise ValueError(f"unknown session field 'audio.{direction}.{key}'; "
                                         f"expected one of: {known}")
                    if key == "format":
                        inner = _seed_format(inner)
                    put(canonical, copy.deepcopy(inner), f"audio.{direction}.{key}")
        elif name in GA_SESSION_ALIASES:
            canonical = GA_SESSION_ALIASES[name]
            put(canonical, _seed_modalities(value) if name == "output_modalities"
                else copy.deepcopy(value), name)
        elif name in CANONICAL_SESSION_FIELDS:
            put(name, copy.deepcopy(value), name)
        else:
            allowed = ", ".join(sorted(ACCEPTED_SESSION_FIELDS))
            raise ValueError(f"unknown session field {name!r}; expected one of: {allowed}")
    return out


def _ga_format(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dict(FORMAT_TO_GA[value])
        except KeyError:
            raise ValueError(
                f"unknown audio format {value!r}; expected one of: {', '.join(FORMAT_TO_GA)}"
            ) from None
    return copy.deepcopy(value)


def _beta_session(canon: dict[str, Any]) -> dict[str, Any]:
    allowed: frozenset[str] = frozenset()
    if canon.get("type") == "transcription":  # a `transcription_session.update`'s session
        canon = {k: v for k, v in canon.items()
                 if k in BETA_TRANSCRIPTION_SESSION_FIELDS}
        allowed = BETA_TRANSCRIPTION_SESSION_FIELDS  # `include` is beta's there
    for name, value in canon.items():
        if name in GA_ONLY_SESSION_FIELDS and name not in allowed:
            raise ValueError(
                f"session field {name!r} exists only in the GA dialect; this client speaks "
                "beta (OpenAI-Beta: realtime=v1), whose session has no such field "
                "(remove it, or use dialect='ga')")
        if name in ("input_audio_format", "output_audio_format") and not isinstance(
                value, str | None):
            raise ValueError(
                f"session field {name!r}: the beta dialect names formats "
                f"({', '.join(FORMAT_TO_GA)}); {value!r} has no beta name")
    if "turn_detection" in canon:
        canon["turn_detection"] = normalize_turn_detection(canon["turn_detection"])
    return canon


def build_session(fields: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The ``session`` object of a ``session.update`` for ``dialect``.

    ``fields`` may use any accepted name (see :func:`normalize_session_fields`); it is never
    mutated and the result shares no mutable objects with it. Raises ``ValueError`` naming the
    field for an unknown name, and for a GA-only field in the beta dialect. With
    ``type="transcription"`` it is a transcription session's (beta: the ``session`` of a
    ``transcription_session.update``).
    """
    if dialect not in ("ga", "beta"):
        raise ValueError(f"unknown dialect {dialect!r}; expected 'ga' or 'beta'")
    canon = normalize_session_fields(fields)
    if dialect == "beta":
        return _beta_session(canon)

    session: dict[str, Any] = {"type": canon.pop("type", "realtime")}
    if session["type"] == "transcription":
        canon = {k: v for k, v in canon.items() if k in TRANSCRIPTION_SESSION_FIELDS}
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for name, value in canon.items():
        if name == "turn_detection":
            audio_in["turn_detection"] = normalize_turn_detection(value)
        elif name == "input_audio_transcription":
            audio_in["transcription"] = value
        elif name == "input_audio_noise_reduction":
            audio_in["noise_reduction"] = value
        elif value is None and name not in _NULL_MEANS_OFF:
            continue
        elif name == "modalities":
            session["output_modalities"] = ["audio"] if "audio" in value else ["text"]
        elif name == "voice":
            audio_out["voice"] = value
        elif name == "speed":
            audio_out["speed"] = value
        elif name == "input_audio_format":
            audio_in["format"] = _ga_format(value)
        elif name == "output_audio_format":
            audio_out["format"] = _ga_format(value)
        elif name == "max_response_output_tokens":
            session["max_output_tokens"] = value
        elif name in BETA_ONLY_SESSION_FIELDS:
            continue  # not a GA session field; the live API rejects it
        else:  # same name in GA: instructions, tools, tool_choice, tracing, model, include, ...
            session[name] = value
    if audio_in or audio_out:
        audio: dict[str, Any] = {}
        if audio_in:
            audio["input"] = audio_in
        if audio_out:
            audio["output"] = audio_out
        session["audio"] = audio
    return session
