"""`response.create` options: flat fields (the seed's names, or GA's), shaped for each dialect.

GA's ``response`` parameters (``openai.types.realtime.RealtimeResponseCreateParams``) and beta's
(``openai.types.beta.realtime.response_create_event.Response``) name a few fields differently,
as sessions do; :func:`build_response` takes either spelling and writes the dialect's:

| canonical (beta) | GA |
|---|---|
| ``modalities`` | ``output_modalities`` (``["audio"]`` or ``["text"]``) |
| ``voice``, ``output_audio_format`` | ``audio.output.voice``, ``audio.output.format`` |
| ``max_response_output_tokens`` | ``max_output_tokens`` |
| ``conversation`` (``"none"``: out of band), ``input``, ``instructions``, ... | same |

(the others with the same name: ``metadata``, ``tool_choice``, ``tools``).

``parallel_tool_calls``, ``prompt`` and ``reasoning`` exist only in GA, ``temperature`` only in
beta: each raises ``ValueError`` in the other dialect. Tools given as ``{name, description,
parameters}`` get ``"type": "function"``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rtkit.audio import audio_format
from rtkit.protocol.events import Dialect
from rtkit.protocol.session import _ga_format, _seed_modalities, once_each

__all__ = ["RESPONSE_FIELDS", "build_response"]

_GA_ONLY = frozenset({"parallel_tool_calls", "prompt", "reasoning"})
_BETA_ONLY = frozenset({"temperature"})
_SAME = frozenset({"conversation", "input", "instructions", "metadata", "tool_choice", "tools"})
_ALIASES = {"output_modalities": "modalities", "max_output_tokens": "max_response_output_tokens"}

RESPONSE_FIELDS: frozenset[str] = (
    _SAME | _GA_ONLY | _BETA_ONLY | frozenset(_ALIASES) | frozenset(_ALIASES.values())
    | {"voice", "output_audio_format", "audio"}
)
"""Every name :func:`build_response` (and ``RealtimeClient.create_response``) accepts."""


def _canonical(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    set_once = once_each(out, "response option")

    def put(canonical: str, value: Any, name: str) -> None:
        set_once(canonical, copy.deepcopy(value), name)

    for name, value in options.items():
        if name == "audio":
            output = value.get("output") if isinstance(value, Mapping) else None
            if not isinstance(value, Mapping) or set(value) - {"output"} or not isinstance(
                    output, Mapping) or set(output) - {"format", "voice"}:
                raise ValueError(f"response option 'audio' must be {{'output': {{'format', "
                                 f"'voice'}}}}, not {value!r}")
            for key, inner in output.items():
                put("voice" if key == "voice" else "output_audio_format", inner,
                    f"audio.output.{key}")
        elif name in _ALIASES:
            put(_ALIASES[name], _seed_modalities(value) if name == "output_modalities"
                else value, name)
        elif name in RESPONSE_FIELDS:
            put(name, value, name)
        else:
            allowed = ", ".join(sorted(RESPONSE_FIELDS))
            raise ValueError(f"unknown response option {name!r}; expected one of: {allowed}")
    return out


def _tools(tools: Any) -> Any:
    if not isinstance(tools, list):
        return tools
    return [{"type": "function", **t} if isinstance(t, Mapping) and "type" not in t else t
            for t in tools]


def build_response(options: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The ``response`` object of a ``response.create`` for ``dialect`` (``{}`` for none).

    Raises ``ValueError`` naming the option for an unknown name, a name given twice, and an
    option the dialect does not have. ``options`` is never mutated.
    """
    canon = _canonical(options)
    other = "beta" if dialect == "ga" else "GA"
    for name in canon:
        if name in (_BETA_ONLY if dialect == "ga" else _GA_ONLY):
            raise ValueError(f"response option {name!r} exists only in the {other} dialect; "
                             f"this client speaks {dialect} (remove it)")
    if "tools" in canon:
        canon["tools"] = _tools(canon["tools"])
    if dialect == "beta":
        fmt = canon.get("output_audio_format")
        if fmt is not None and not isinstance(fmt, str):
            canon["output_audio_format"] = audio_format(fmt).name
        return canon
    response: dict[str, Any] = {}
    output: dict[str, Any] = {}
    for name, value in canon.items():
        if name == "modalities":
            response["output_modalities"] = (["audio"] if isinstance(value, list | tuple)
                                             and "audio" in value else ["text"])
        elif name == "voice":
            output["voice"] = value
        elif name == "output_audio_format":
            output["format"] = _ga_format(value)
        elif name == "max_response_output_tokens":
            response["max_output_tokens"] = value
        else:
            response[name] = value
    if output:
        response["audio"] = {"output": output}
    return response
