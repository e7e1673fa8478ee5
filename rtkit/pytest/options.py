"""The options of a marked test: command line over `@pytest.mark.rtkit` over `rt_config`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtkit.intercept.routes import parse_hosts
from rtkit.record_mode import RecordMode, resolve_record_mode

__all__ = [
    "DEFAULT_UPSTREAM_URL",
    "KNOWN_KEYS",
    "UPSTREAM_ENV",
    "RtOptions",
    "merge_marker_kwargs",
    "options_from_kwargs",
    "parse_pace",
    "resolve_options",
]

DEFAULT_UPSTREAM_URL = "wss://api.openai.com/v1/realtime"
UPSTREAM_ENV = "RTKIT_UPSTREAM_URL"


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
    fail_fast: bool = True
    filter_headers: tuple[Any, ...] = ()
    filter_query_parameters: tuple[Any, ...] = ()
    before_record_event: Callable[[dict[str, Any], str], dict[str, Any] | None] | None = None
    before_record_request: Any = None
    before_record_response: Any = None
    intercept: bool = True
    intercept_hosts: tuple[str, ...] = ()

    @property
    def redacts(self) -> bool:
        """True when the user configured redaction of their own."""
        return bool(self.filter_headers or self.filter_query_parameters
                    or self.before_record_event)


KNOWN_KEYS = frozenset({
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
    "fail_fast",
    "filter_headers",
    "filter_query_parameters",
    "before_record_event",
    "before_record_request",
    "before_record_response",
    "intercept",
    "intercept_hosts",
})


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
    marker_kwargs = merge_marker_kwargs({}, markers)
    merged = merge_marker_kwargs(config, markers)
    mode = resolve_record_mode(
        cli_record_mode, marker_kwargs.get("record_mode"), config.get("record_mode")
    )
    return _options(merged, mode, cli_pace, environ)


def options_from_kwargs(options: Mapping[str, Any],
                        environ: Mapping[str, str] | None = None) -> RtOptions:
    """The options of `rtkit.use_cassette(...)`: the marker's keys, checked the same way."""
    return _options(dict(options), resolve_record_mode(None, options.get("record_mode")), None,
                    environ)


def _options(merged: Mapping[str, Any], mode: RecordMode, cli_pace: str | None,
             environ: Mapping[str, str] | None) -> RtOptions:
    environ = os.environ if environ is None else environ
    unknown = set(merged) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown rtkit option(s) {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}")
    pace = parse_pace(cli_pace if cli_pace is not None else merged.get("pace", "instant"))
    upstream = environ.get(UPSTREAM_ENV) or merged.get("upstream_url") or DEFAULT_UPSTREAM_URL
    hosts = merged.get("intercept_hosts") or ()
    hosts = (hosts,) if isinstance(hosts, str) else tuple(hosts)
    parse_hosts(hosts)  # a bad entry fails here, naming it
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
        fail_fast=bool(merged.get("fail_fast", True)),
        filter_headers=_filters("filter_headers", merged.get("filter_headers")),
        filter_query_parameters=_filters(
            "filter_query_parameters", merged.get("filter_query_parameters")),
        before_record_event=_hook("before_record_event", merged.get("before_record_event")),
        before_record_request=_hooks(
            "before_record_request", merged.get("before_record_request")),
        before_record_response=_hooks(
            "before_record_response", merged.get("before_record_response")),
        intercept=bool(merged.get("intercept", True)),
        intercept_hosts=hosts,
    )


def _filters(key: str, value: Any) -> tuple[Any, ...]:
    """vcrpy's filter list: names, or (name, replacement) pairs."""
    if not value:
        return ()
    if isinstance(value, str):
        value = [value]
    entries = tuple(value)
    for entry in entries:
        ok = isinstance(entry, str) or (
            isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str))
        if not ok:
            raise ValueError(f"{key}: {entry!r} is neither a name nor a (name, replacement) pair")
    return entries


def _hook(key: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise ValueError(f"{key} must be a callable, got {type(value).__name__}")
    return value


def _hooks(key: str, value: Any) -> Any:
    """A callable or a list of callables (vcrpy takes both)."""
    if isinstance(value, (list, tuple)):
        for hook in value:
            _hook(key, hook)
        return tuple(value) or None
    return _hook(key, value)


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
