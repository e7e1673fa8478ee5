"""Secret redaction: never optional, extendable vcrpy-style.

Built-in filters (always on): `Authorization`/`api-key` headers, the
`openai-insecure-api-key.*` subprotocol, `api_key`/`key`/`token` query parameters, and any
`sk-...`, `sk-proj-...`, `ek_...` or `Bearer ...` value inside a frame. Replacing on the raw
text keeps JSON valid because the patterns only span characters that need no escaping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["BUILTIN_REDACTIONS", "PLACEHOLDER", "Redactor"]

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

SECRET_HEADERS = frozenset({"authorization", "api-key", "proxy-authorization", "cookie"})
# Handshake and hop-by-hop headers: they describe the socket, not the session.
DROPPED_HEADERS = frozenset({
    "host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "sec-websocket-accept",
    "content-length", "transfer-encoding", "keep-alive", "te",
})
SECRET_QUERY_PARAMS = frozenset({"api_key", "api-key", "key", "token", "access_token"})
INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."

_FRAME_SECRETS = re.compile(
    r"(?P<sk>\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,})"
    r"|(?P<ek>\bek_[A-Za-z0-9_\-]{16,})"
    r"|(?P<bearer>\bBearer\s+[A-Za-z0-9_\-.~+/=:]{8,})"
)
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


def _replace_builtin(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.lastgroup or "sk"]


class Redactor:
    """Applies the built-in secret filters plus the user's own.

    extra_headers: more header names whose values become `REDACTED`.
    patterns: regexes (strings or compiled, or `(regex, replacement)` pairs) applied to every
        frame's text; the default replacement is `REDACTED`.
    before_record_event: `hook(event, direction) -> event | None`, called with each JSON event
        (a copy); return the event to keep (possibly changed) or None to drop it.
    secrets: live values (e.g. the API key) that must never be written; they are replaced
        wherever they appear, and `find_secret` lets writers refuse a file that still has one.
    """

    def __init__(
        self,
        extra_headers: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str] | tuple[str | re.Pattern[str], str]] = (),
        before_record_event: EventHook | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.secret_headers = SECRET_HEADERS | {h.lower() for h in extra_headers}
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        for p in patterns:
            regex, repl = p if isinstance(p, tuple) else (p, PLACEHOLDER)
            self.patterns.append((re.compile(regex) if isinstance(regex, str) else regex, repl))
        self.before_record_event = before_record_event
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

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
        return names

    # -- handshake -------------------------------------------------------------------------

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """Lower-cased request headers with secrets replaced and handshake headers dropped."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            if key in DROPPED_HEADERS:
                continue
            out[key] = PLACEHOLDER if key in self.secret_headers else self.text(str(value))
        return out

    def subprotocols(self, subprotocols: Sequence[str]) -> list[str]:
        """Subprotocols with the insecure API key replaced."""
        return [
            INSECURE_KEY_PROTOCOL + PLACEHOLDER if p.startswith(INSECURE_KEY_PROTOCOL) else p
            for p in subprotocols
        ]

    def query(self, query: str) -> str:
        """A query string with key-like parameters replaced."""
        if not query:
            return ""
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [
            (k, PLACEHOLDER if k.lower() in SECRET_QUERY_PARAMS else self.text(v)) for k, v in pairs
        ]
        return urlencode(kept, safe="/:-_.")

    # -- frames ----------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Any text with built-in patterns, live secrets and user patterns replaced."""
        if "sk-" in text or "ek_" in text or "Bearer" in text:
            text = _FRAME_SECRETS.sub(_replace_builtin, text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, PLACEHOLDER)
        for regex, repl in self.patterns:
            text = regex.sub(repl, text)
        return text

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
                red_head, red_tail = self.text(head), self.text(tail)
                if red_head == head and red_tail == tail:
                    return raw, event
                red = red_head + payload + red_tail
                return red, json.loads(red)
        red = self.text(raw)
        if red is not raw and red != raw:
            return red, json.loads(red)
        return raw, event

    def filters_matching(self, text: str) -> list[str]:
        """Names of the frame filters that would change `text` (never the secrets themselves)."""
        names = [_FILTER_NAMES[m.lastgroup or "sk"] for m in _FRAME_SECRETS.finditer(text)
                 if m.group(0) != _REPLACEMENTS[m.lastgroup or "sk"]]
        if any(secret in text for secret in self.secrets):
            names.append("live-secret")
        names += [f"pattern {regex.pattern!r}" for regex, repl in self.patterns
                  if any(m.group(0) != repl for m in regex.finditer(text))]
        return list(dict.fromkeys(names))

    def find_secret(self, text: str) -> str | None:
        """The first live secret found in `text`, or None."""
        for secret in self.secrets:
            if secret in text:
                return secret
        return None


def audio_payload_span(buf: bytes, start: int = 0, end: int | None = None
                       ) -> tuple[int, int] | None:
    """Where the base64 payload of an audio event lies in the UTF-8 text `buf[start:end]`,
    found without parsing the event (json.loads spends 8 us on a 100 ms delta, the whole
    budget of a recording proxy); None when the text does not look like a plain audio event
    (`type` first, one of AUDIO_PAYLOADS, a long payload without escapes, no raw newline).

    The text is NOT validated as JSON: whoever records it must check it later
    (`CassetteWriter` does, at commit, off the recording path)."""
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
    if b - a < 64 or buf.find(b"\\", a, b) >= 0 or buf.find(b"\n", start, end) >= 0 \
            or buf.find(b"\r", start, end) >= 0:
        return None
    return a, b
