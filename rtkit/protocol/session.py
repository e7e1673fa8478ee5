"""Session configuration: the seed client's flat fields, and their shape in each dialect.

The reference client keeps its session config as flat fields (``voice``, ``modalities``,
``turn_detection``, ...), which is exactly the beta ``session.update`` shape. GA nests audio
settings under ``audio.input`` / ``audio.output`` and renames a few fields (see
PROTOCOL.md "Session configuration"). :func:`build_session` produces the ``session`` object of a
``session.update`` for either dialect from the flat fields.

GA differences worth knowing:

- ``modalities`` becomes ``output_modalities``, which GA accepts only as ``["audio"]`` or
  ``["text"]``; any list containing ``"audio"`` maps to ``["audio"]`` (audio responses carry a
  transcript anyway), anything else to ``["text"]``.
- ``temperature`` is dropped: the GA session has no such field and the live API rejects it as
  ``unknown_parameter``.
- Format names map to objects: ``"pcm16"`` -> ``{"type": "audio/pcm", "rate": 24000}``,
  ``"g711_ulaw"`` -> ``{"type": "audio/pcmu"}``, ``"g711_alaw"`` -> ``{"type": "audio/pcma"}``.
- ``None`` values are omitted, except ``turn_detection`` and ``input_audio_transcription``,
  where ``null`` means "off" and is sent as such.

In both dialects ``turn_detection={"type": "none"}`` (as the seed README writes it) means manual
turn mode and is sent as ``null`` (the seed sent ``"none"``, which the server rejects).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rtkit.protocol.events import Dialect

__all__ = [
    "FORMAT_TO_GA",
    "SESSION_FIELDS",
    "build_session",
    "is_manual_turn_detection",
    "normalize_turn_detection",
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
"""The seed client's flat session fields (``updateSession`` accepts these)."""

FORMAT_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
"""Beta audio format names and the GA format objects they become."""


def normalize_turn_detection(value: Any) -> Any:
    """``None`` for manual mode (``None`` or ``{"type": "none"}``), else a copy of ``value``."""
    if value is None:
        return None
    if isinstance(value, Mapping) and value.get("type") in (None, "none"):
        return None
    return copy.deepcopy(dict(value)) if isinstance(value, Mapping) else copy.deepcopy(value)


def is_manual_turn_detection(fields: Mapping[str, Any]) -> bool:
    """Whether a session config is in manual turn mode (no server VAD).

    Accepts the flat fields, or a GA-shaped session (``audio.input.turn_detection``).
    A missing ``turn_detection`` means manual, the seed's default.
    """
    if "turn_detection" in fields:
        td = fields["turn_detection"]
    else:
        audio = fields.get("audio") or {}
        td = (audio.get("input") or {}).get("turn_detection")
    return normalize_turn_detection(td) is None


def _check_fields(fields: Mapping[str, Any]) -> None:
    for name in fields:
        if name not in SESSION_FIELDS:
            allowed = ", ".join(sorted(SESSION_FIELDS))
            raise ValueError(f"unknown session field {name!r}; expected one of: {allowed}")


def _ga_format(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dict(FORMAT_TO_GA[value])
        except KeyError:
            raise ValueError(
                f"unknown audio format {value!r}; expected one of: {', '.join(FORMAT_TO_GA)}"
            ) from None
    return copy.deepcopy(value)


def build_session(fields: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The ``session`` object of a ``session.update`` for ``dialect``, from flat fields.

    ``fields`` is never mutated and the result shares no mutable objects with it.
    Raises ``ValueError`` naming the field for a name outside :data:`SESSION_FIELDS`.
    """
    _check_fields(fields)
    if dialect == "beta":
        out = {k: copy.deepcopy(v) for k, v in fields.items()}
        if "turn_detection" in out:
            out["turn_detection"] = normalize_turn_detection(out["turn_detection"])
        return out
    if dialect != "ga":
        raise ValueError(f"unknown dialect {dialect!r}; expected 'ga' or 'beta'")

    session: dict[str, Any] = {"type": "realtime"}
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "turn_detection":
            audio_in["turn_detection"] = normalize_turn_detection(value)
        elif name == "input_audio_transcription":
            audio_in["transcription"] = copy.deepcopy(value)
        elif value is None:
            continue
        elif name == "modalities":
            session["output_modalities"] = ["audio"] if "audio" in value else ["text"]
        elif name == "voice":
            audio_out["voice"] = copy.deepcopy(value)
        elif name == "input_audio_format":
            audio_in["format"] = _ga_format(value)
        elif name == "output_audio_format":
            audio_out["format"] = _ga_format(value)
        elif name == "max_response_output_tokens":
            session["max_output_tokens"] = value
        elif name == "temperature":
            continue  # not a GA session field; the live API rejects it
        else:  # instructions, tools, tool_choice
            session[name] = copy.deepcopy(value)
    if audio_in or audio_out:
        audio: dict[str, Any] = {}
        if audio_in:
            audio["input"] = audio_in
        if audio_out:
            audio["output"] = audio_out
        session["audio"] = audio
    return session
