"""Secret redaction: never optional, extendable vcrpy-style.

Built-in filters (always on): `Authorization`/`api-key`/`x-api-key` headers, the
`openai-insecure-api-key.*` subprotocol, `api_key`/`key`/`token` query parameters, and any
`sk-...`, `sk-proj-...`, `ek_...` or `Bearer ...` value inside a frame. Replacing on the raw
text keeps JSON valid because the patterns only span characters that need no escaping.

JSON text is also read decoded: a secret written with escapes (`"\u0073k-..."`, or right after
an escape such as `\n`) is found in the decoded strings, and the text is then re-encoded with
the secret replaced. The user's own filters follow vcrpy's names and semantics
(`filter_headers`, `filter_query_parameters`), plus `before_record_event`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["BUILTIN_REDACTIONS", "PLACEHOLDER", "Redactor", "unescape"]

PLACEHOLDER = "REDACTED"

BUILTIN_REDACTIONS = [
    "authorization-header",
    "api-key-header",
    "insecure-api-key-subprotocol",
    "key-query-params",
    "sk-keys",
    "ek-keys",
    "bearer-tokens",
]

SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization",
                            "cookie"})
# Handshake and hop-by-hop headers: they describe the socket, not the session.
DROPPED_HEADERS = frozenset({
    "host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "sec-websocket-accept",
    "content-length", "transfer-encoding", "keep-alive", "te",
})
SECRET_QUERY_PARAMS = frozenset({"api_key", "api-key", "key", "token", "access_token"})
INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."

# a secret starts where no letter or digit precedes it, or right after a JSON escape
# (`\n`, `\u000a`): "task-..." is no key, "k:\nsk-..." and "x_sk-..." are
_START = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{4}))"
_FRAME_SECRETS = re.compile(
    rf"(?P<sk>{_START}sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{{16,}})"
    rf"|(?P<ek>{_START}ek_[A-Za-z0-9_\-]{{16,}})"
    rf"|(?P<bearer>{_START}Bearer\s+[A-Za-z0-9_\-.~+/=:]{{8,}})"
)
_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t"}
# audio events -> the field holding base64 audio (skipped by the filters)
AUDIO_PAYLOADS = {
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
    "input_audio_buffer.append": "audio",
}
_TYPE_FIRST = re.compile(rb'\{\s*"type"\s*:\s*"([a-z_.]+)"')
_PAYLOAD_KEYS = {t.encode(): re.compile(rb'"' + f.encode() + rb'"\s*:\s*"')
                 for t, f in AUDIO_PAYLOADS.items()}
_REPLACEMENTS = {"sk": "sk-REDACTED", "ek": "ek_REDACTED", "bearer": "Bearer REDACTED"}
_FILTER_NAMES = {"sk": "sk-keys", "ek": "ek-keys", "bearer": "bearer-tokens"}

EventHook = Callable[[dict[str, Any], str], "dict[str, Any] | None"]
# vcrpy's filter entries: a name (removed), or (name, replacement) where the replacement is a
# value, None (removed) or a callable(key, value, request) returning either
Filter = str | tuple[str, Any]


def _replace_builtin(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.lastgroup or "sk"]


def unescape(text: str) -> str:
    """`text` with JSON string escapes decoded (`\\u0073` -> `s`, `\\n` -> newline), whether or
    not it is valid JSON; what the leak scans read besides the raw text."""
    if "\\" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return chr(int(m.group(1), 16))
        return _SIMPLE_ESCAPES[m.group(2)]

    return _ESCAPE.sub(one, text)


def _views(text: str, depth: int = 3) -> list[str]:
    """`text`, then `text` unescaped again and again while it has escapes (a JSON string in a
    JSON string, as tool arguments are, is escaped twice)."""
    views = [text]
    while "\\" in text and len(views) <= depth:
        decoded = unescape(text)
        if decoded == text:
            break
        views.append(decoded)
        text = decoded
    return views


def _filters(entries: Iterable[Filter]) -> dict[str, Any]:
    """vcrpy filter entries as {lower-case name: replacement} (None: remove)."""
    out: dict[str, Any] = {}
    for entry in entries:
        name, replacement = entry if isinstance(entry, tuple) else (entry, None)
        out[str(name).lower()] = replacement
    return out


def _apply_filter(replacement: Any, key: str, value: str) -> str | None:
    if callable(replacement):
        replacement = replacement(key, value, None)
    return None if replacement is None else str(replacement)


class Redactor:
    """Applies the built-in secret filters plus the user's own.

    extra_headers: more header names whose values become `REDACTED`.
    patterns: regexes (strings or compiled, or `(regex, replacement)` pairs) applied to every
        frame's text; the default replacement is `REDACTED`.
    before_record_event: `hook(event, direction) -> event | None`, called with each JSON event
        (a copy); return the event to keep (possibly changed) or None to drop it.
    secrets: live values (e.g. the API key) that must never be written; they are replaced
        wherever they appear, and `find_secret` lets writers refuse a file that still has one.
    filter_headers, filter_query_parameters: vcrpy's filters, for the handshake's headers and
        query: a name removes it; `(name, value)` replaces its value, `(name, None)` removes
        it, `(name, callable)` calls `callable(name, value, None)` for the value (None
        removes it). Built-in secrets are replaced first, whatever these say.
    """

    def __init__(
        self,
        extra_headers: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str] | tuple[str | re.Pattern[str], str]] = (),
        before_record_event: EventHook | None = None,
        secrets: Iterable[str] = (),
        *,
        filter_headers: Iterable[Filter] = (),
        filter_query_parameters: Iterable[Filter] = (),
    ) -> None:
        self.secret_headers = SECRET_HEADERS | {h.lower() for h in extra_headers}
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        for p in patterns:
            regex, repl = p if isinstance(p, tuple) else (p, PLACEHOLDER)
            self.patterns.append((re.compile(regex) if isinstance(regex, str) else regex, repl))
        self.before_record_event = before_record_event
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)
        self.filter_headers = _filters(filter_headers)
        self.filter_query_parameters = _filters(filter_query_parameters)

    def with_secrets(self, *secrets: str | None) -> Redactor:
        """A copy of this redactor that also treats `secrets` as live secrets."""
        copy = Redactor.__new__(Redactor)
        copy.__dict__.update(self.__dict__)
        copy.secrets = tuple(dict.fromkeys(
            [*self.secrets, *(s for s in secrets if s and len(s) >= 4)]))
        return copy

    @property
    def names(self) -> list[str]:
        """Names of the redactions applied, for the cassette header."""
        names = list(BUILTIN_REDACTIONS)
        if self.secret_headers - SECRET_HEADERS:
            names.append("user-headers")
        if self.patterns:
            names.append("user-patterns")
        if self.before_record_event is not None:
            names.append("before-record-event")
        if self.filter_headers:
            names.append("filter-headers")
        if self.filter_query_parameters:
            names.append("filter-query-parameters")
        return names

    # -- handshake -------------------------------------------------------------------------

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """Lower-cased request headers with secrets replaced, handshake headers dropped and
        `filter_headers` applied."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            if key in DROPPED_HEADERS:
                continue
            red = PLACEHOLDER if key in self.secret_headers else self.text(str(value))
            if key in self.filter_headers:
                kept = _apply_filter(self.filter_headers[key], key, red)
                if kept is None:
                    continue
                red = self.text(kept)
            out[key] = red
        return out

    def subprotocols(self, subprotocols: Sequence[str]) -> list[str]:
        """Subprotocols with the insecure API key replaced."""
        return [
            INSECURE_KEY_PROTOCOL + PLACEHOLDER if p.startswith(INSECURE_KEY_PROTOCOL) else p
            for p in subprotocols
        ]

    def query(self, query: str) -> str:
        """A query string with key-like parameters replaced and `filter_query_parameters`
        applied."""
        if not query:
            return ""
        kept: list[tuple[str, str]] = []
        for k, v in parse_qsl(query, keep_blank_values=True):
            red = PLACEHOLDER if k.lower() in SECRET_QUERY_PARAMS else self.text(v)
            if k.lower() in self.filter_query_parameters:
                value = _apply_filter(self.filter_query_parameters[k.lower()], k, red)
                if value is None:
                    continue
                red = self.text(value)
            kept.append((k, red))
        return urlencode(kept, safe="/:-_.")

    # -- frames ----------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Any text with built-in patterns, live secrets and user patterns replaced; JSON text
        is also read decoded (see the module's docstring)."""
        red = self._raw_text(text)
        if self._hides(red):
            red = self._decoded_text(red)
        return red

    def _hides(self, text: str) -> bool:
        """True when decoding `text` could reveal what the raw filters miss: a `\\u` or `\\/`
        escape (a key's characters need no other), or any escape for the user's patterns."""
        if "\\" not in text:
            return False
        return "\\u" in text or "\\/" in text or bool(self.patterns)

    def _raw_text(self, text: str) -> str:
        if "sk-" in text or "ek_" in text or "Bearer" in text:
            text = _FRAME_SECRETS.sub(_replace_builtin, text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, PLACEHOLDER)
        for regex, repl in self.patterns:
            text = regex.sub(repl, text)
        return text

    def _decoded_text(self, text: str, obj: Any = None, skip: str | None = None) -> str:
        """`text` (JSON, with escapes) re-encoded with the secrets in its decoded strings
        replaced; `text` itself when they hold none or it is not JSON. `skip`: a top-level
        field left as it is (an audio payload)."""
        if obj is None:
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                return text
        try:
            new = self._strings(obj, skip)
        except RecursionError:
            return text
        if new is obj:
            return text
        return json.dumps(new, ensure_ascii=False, separators=(",", ":"))

    def _strings(self, obj: Any, skip: str | None = None) -> Any:
        """`obj` with `text()` applied to every string (keys too); `obj` itself if none changed."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            items = [self._strings(v) for v in obj]
            return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
        if isinstance(obj, dict):
            changed = False
            out: dict[str, Any] = {}
            for k, v in obj.items():
                nk = self.text(k) if isinstance(k, str) else k
                nv = v if k == skip else self._strings(v)
                changed = changed or nk is not k or nv is not v
                out[nk] = nv
            return out if changed else obj
        return obj

    def event(
        self, raw: str, event: dict[str, Any], direction: str
    ) -> tuple[str, dict[str, Any]] | None:
        """Redact one JSON event; returns its new text and object, or None to drop it.

        The base64 payload of audio events is opaque audio: the filters skip it (a user
        pattern must not rewrite samples, and no built-in secret shape fits in base64). The
        writer's leak scan still covers the whole line.
        """
        if self.before_record_event is not None:
            changed = self.before_record_event(json.loads(raw), direction)
            if changed is None:
                return None
            raw = json.dumps(changed, ensure_ascii=False, separators=(",", ":"))
            event = json.loads(raw)
        kind = event.get("type")
        field = AUDIO_PAYLOADS.get(kind) if isinstance(kind, str) else None
        payload = event.get(field) if field else None
        if isinstance(payload, str) and len(payload) > 64:
            start = raw.find(payload[:32])  # a short needle: finding all 6 KB is slow
            if start >= 0 and raw.startswith(payload, start):
                head, tail = raw[:start], raw[start + len(payload):]
                red_head, red_tail = self._raw_text(head), self._raw_text(tail)
                red = raw if red_head == head and red_tail == tail else \
                    red_head + payload + red_tail
                if self._hides(red_head) or self._hides(red_tail):
                    red = self._decoded_text(red, None, field)
                return (raw, event) if red == raw else (red, json.loads(red))
        red = self._raw_text(raw)
        if self._hides(red):
            red = self._decoded_text(red, event if red == raw else None, field)
        if red is not raw and red != raw:
            return red, json.loads(red)
        return raw, event

    def body(self, data: str | bytes, direction: str) -> str | bytes | None:
        """An HTTP body through the same pipeline as a WebSocket event: a JSON object goes
        through `before_record_event` (None: drop the exchange) and the filters; other text
        through the filters; bytes that are not UTF-8 are returned as they are (the final scan
        still reads what is written). Returns the type it was given."""
        is_bytes = isinstance(data, (bytes, bytearray))
        try:
            text = bytes(data).decode("utf-8") if is_bytes else str(data)
        except UnicodeDecodeError:
            return data
        try:
            obj = json.loads(text) if text.lstrip().startswith("{") else None
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            red = self.event(text, obj, direction)
            if red is None:
                return None
            new = red[0]
        else:
            new = self.text(text)
        if new == text:
            return data
        return new.encode("utf-8") if is_bytes else new

    def filters_matching(self, text: str) -> list[str]:
        """Names of the frame filters that would change `text`, raw or JSON-decoded (never the
        secrets themselves)."""
        names: list[str] = []
        for view in _views(text):
            names += [_FILTER_NAMES[m.lastgroup or "sk"] for m in _FRAME_SECRETS.finditer(view)
                      if m.group(0) != _REPLACEMENTS[m.lastgroup or "sk"]]
            if any(secret in view for secret in self.secrets):
                names.append("live-secret")
            names += [f"pattern {regex.pattern!r}" for regex, repl in self.patterns
                      if any(m.group(0) != repl for m in regex.finditer(view))]
        return list(dict.fromkeys(names))

    def find_secret(self, text: str) -> str | None:
        """The first live secret found in `text`, raw or with JSON escapes decoded (up to three
        levels deep), or None."""
        for view in _views(text) if self.secrets else ():
            for secret in self.secrets:
                if secret in view:
                    return secret
        return None


def audio_payload_span(buf: bytes, start: int = 0, end: int | None = None
                       ) -> tuple[int, int] | None:
    """Where the base64 payload of an audio event lies in the UTF-8 text `buf[start:end]`,
    found without parsing the event (json.loads spends 8 us on a 100 ms delta, the whole
    budget of a recording proxy); None when the text does not look like an audio event
    (`type` first, one of AUDIO_PAYLOADS, a payload of 64 characters or more).

    Nothing else is checked, and no byte of the payload is read but its closing quote: on a
    recording proxy each pass over the payloads costs as much as parsing the rest. Whoever
    records the event must check it: that the payload is plain base64 (which leaves no room
    for an escape, a newline or a key), and that the text around it has no escape (an escaped
    secret) and no newline and parses (`CassetteWriter` does, as it writes the line)."""
    end = len(buf) if end is None else end
    m = _TYPE_FIRST.match(buf, start, end)
    if m is None:
        return None
    key = _PAYLOAD_KEYS.get(m.group(1))
    if key is None:
        return None
    k = key.search(buf, m.end(), min(end, m.end() + 1024))
    if k is None:
        return None
    a = k.end()
    b = buf.find(b'"', a, end)
    if b - a < 64:
        return None
    return a, b
