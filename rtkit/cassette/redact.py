"""Secret redaction: never optional, extendable vcrpy-style.

Built-in filters (always on), by structure: credential headers (`Authorization`, `api-key`,
`x-api-key`, `Cookie` and any header named like a key or token), the
`openai-insecure-api-key.*` subprotocol, key-like query parameters and URL passwords, and in
JSON events the fields the protocol defines as credentials (an MCP tool's `authorization` and
`headers` values, `authorization` / `api_key` / `password` / ... fields), in both directions.
By catalogue (`rtkit.cassette.tokens`): the common token families (OpenAI `sk-` / `ek_`, GitHub,
GitLab, Google, Slack, AWS, Stripe, JWTs, `Bearer` and `Basic` credentials, ...) anywhere in a
frame, and the live secrets (the recorder's key) as they are and base64-encoded. Replacing
on the raw text keeps JSON valid because the patterns only span characters that need no
escaping; binary frames and text that is not UTF-8 are read as bytes and scanned too.

JSON text is also read decoded: a secret written with escapes (`"\u0073k-..."`, or right after
an escape such as `\n`) is found in the decoded strings, and the text is then re-encoded with
the secret replaced. The user's own filters follow vcrpy's names and semantics
(`filter_headers`, `filter_query_parameters`), plus `before_record_event`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rtkit.cassette.tokens import PLACEHOLDER, find_tokens, gate_pattern, has_gate, redact_tokens

__all__ = ["BUILTIN_REDACTIONS", "PLACEHOLDER", "Redactor", "secret_name", "unescape"]

BUILTIN_REDACTIONS = [
    "authorization-header",
    "api-key-header",
    "insecure-api-key-subprotocol",
    "key-query-params",
    "url-credentials",
    "mcp-credentials",
    "credential-fields",
    "sk-keys",
    "ek-keys",
    "bearer-tokens",
    "token-catalogue",
    "encoded-live-secrets",
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
# a header or query parameter named like a credential: x-goog-api-key, x-auth-token, sig, ...
_SECRET_NAME = re.compile(r"(?:^|[-_.])(?:api[-_]?key|apikey|key|token|secret|password|passwd|"
                          r"pwd|auth|authorization|credentials?|cookie|signature|sig)$")
# a JSON field holding a credential, wherever it is (narrower: `key` or `token` alone are
# application data as often as not)
_CREDENTIAL_FIELD = re.compile(r"(?:^|[-_])(?:api[-_]?key|apikey|authorization|password|"
                               r"passwd|secret|access[-_]?token|refresh[-_]?token|"
                               r"auth[-_]?token|cookie)$")
# what every text holding such a field contains (lower-cased), besides the catalogue's gates
_FIELD_GATES = ("uthoriz", "eaders", "ookie", "ecret")
_ANY_GATE = gate_pattern(_FIELD_GATES)
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>\\]+")
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

EventHook = Callable[[dict[str, Any], str], "dict[str, Any] | None"]
# vcrpy's filter entries: a name (removed), or (name, replacement) where the replacement is a
# value, None (removed) or a callable(key, value, request) returning either
Filter = str | tuple[str, Any]


def secret_name(name: str) -> bool:
    """Whether a header or query parameter `name` names a credential."""
    low = name.lower()
    return low in SECRET_HEADERS or low in SECRET_QUERY_PARAMS or \
        _SECRET_NAME.search(low) is not None


def encoded_forms(secret: str) -> list[str]:
    """`secret` base64-encoded (standard and URL-safe alphabets), as it appears inside any
    base64 text whatever bytes precede it: the characters that depend on its bytes only."""
    data = secret.encode("utf-8")
    forms: list[str] = []
    for skip in range(3):
        part = data[skip:]
        part = part[: len(part) // 3 * 3]
        if len(part) < 9:
            continue
        std = base64.b64encode(part).decode("ascii")
        forms += [std, base64.urlsafe_b64encode(part).decode("ascii")]
    return list(dict.fromkeys(forms))


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries: its password and its key-like query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if secret_name(k)]
    return [s for s in found if s and len(s) >= 4]


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
        wherever they appear, as they are and base64-encoded, and `find_secret` lets writers
        refuse a file that still has one.
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
        self._set_secrets(s for s in secrets if s and len(s) >= 4)
        self.filter_headers = _filters(filter_headers)
        self.filter_query_parameters = _filters(filter_query_parameters)

    def _set_secrets(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(dict.fromkeys(secrets))
        # what is searched for: each secret, then its base64 forms (longest first, so a
        # secret is replaced whole before a part of it could be)
        needles = [*self.secrets, *(f for s in self.secrets for f in encoded_forms(s))]
        self._needles = tuple(sorted(dict.fromkeys(needles), key=len, reverse=True))

    def with_secrets(self, *secrets: str | None) -> Redactor:
        """A copy of this redactor that also treats `secrets` as live secrets."""
        copy = Redactor.__new__(Redactor)
        copy.__dict__.update(self.__dict__)
        copy._set_secrets([*self.secrets, *(s for s in secrets if s and len(s) >= 4)])
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

    def secret_header(self, name: str) -> bool:
        """Whether the header `name` carries a credential (its value is replaced whole)."""
        low = name.lower()
        return low in self.secret_headers or secret_name(low)

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """Lower-cased request headers with secrets replaced, handshake headers dropped and
        `filter_headers` applied."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            if key in DROPPED_HEADERS:
                continue
            red = PLACEHOLDER if self.secret_header(key) else self.text(str(value))
            if key in self.filter_headers:
                kept = _apply_filter(self.filter_headers[key], key, red)
                if kept is None:
                    continue
                red = self.text(kept)
            out[key] = red
        return out

    def subprotocols(self, subprotocols: Sequence[str]) -> list[str]:
        """Subprotocols with the insecure API key replaced (and any other secret)."""
        return [
            INSECURE_KEY_PROTOCOL + PLACEHOLDER if p.startswith(INSECURE_KEY_PROTOCOL)
            else self.text(p) for p in subprotocols
        ]

    def query(self, query: str) -> str:
        """A query string with key-like parameters replaced, secrets in the other values
        replaced, and `filter_query_parameters` applied."""
        if not query:
            return ""
        kept: list[tuple[str, str]] = []
        for k, v in parse_qsl(query, keep_blank_values=True):
            red = PLACEHOLDER if secret_name(k) else self.text(v)
            if k.lower() in self.filter_query_parameters:
                value = _apply_filter(self.filter_query_parameters[k.lower()], k, red)
                if value is None:
                    continue
                red = self.text(value)
            kept.append((self.text(k), red))
        return urlencode(kept, safe="/:-_.")

    def path(self, path: str) -> str:
        """A request path with key-like segments (a token, a live secret) replaced."""
        return self.text(path)

    def url(self, url: str) -> str:
        """A URL with its user and password, key-like query parameters and any secret in
        its path replaced (the rest kept)."""
        try:
            parts = urlsplit(url)
            password = parts.password
        except ValueError:
            return self.text(url)
        netloc = parts.netloc
        if password is not None:  # user and password both go: `user:REDACTED` looks real
            netloc = f"{PLACEHOLDER}@{netloc.rpartition('@')[2]}"
        return self.text(urlunsplit(parts._replace(netloc=netloc, path=self.path(parts.path),
                                                   query=self.query(parts.query))))

    def message(self, text: str) -> str:
        """Free text (a close reason, an error message, a console line) with every URL in
        it redacted as `url` does and the frame filters applied."""
        if "://" in text:
            text = _URL_IN_TEXT.sub(lambda m: self.url(m.group(0)), text)
        return self.text(text)

    # -- frames ----------------------------------------------------------------------------

    def may_change(self, text: str) -> bool:
        """Cheap: False when no filter could change `text` (UTF-8 text without escapes)."""
        if self.patterns or _ANY_GATE.search(text.lower()) is not None:
            return True
        return any(needle in text for needle in self._needles)

    def text(self, text: str) -> str:
        """Any text with the token catalogue, live secrets and user patterns replaced; JSON
        text is also read decoded (see the module's docstring)."""
        red = self._raw_text(text)
        if self._hides(red):
            red = self._decoded_text(red)
        return red

    def binary(self, data: bytes) -> bytes:
        """A binary frame (or text that is not UTF-8) with the secrets in it replaced: read
        as UTF-8 when it is, else byte for byte (every secret shape is ASCII)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            red = self._raw_text(text)
            return data if red == text else red.encode("latin-1")
        red = self.text(text)
        return data if red == text else red.encode("utf-8")

    def _hides(self, text: str) -> bool:
        """True when decoding `text` could reveal what the raw filters miss: a `\\u` or `\\/`
        escape (a key's characters need no other), or any escape for the user's patterns."""
        if "\\" not in text:
            return False
        return "\\u" in text or "\\/" in text or bool(self.patterns)

    def _raw_text(self, text: str) -> str:
        if has_gate(text):
            text = redact_tokens(text)[0]
        for secret in self._needles:
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
        return _dumps(new)

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

    def _fields(self, obj: Any) -> Any:
        """`obj` with the credential fields replaced (an MCP tool's `authorization` and every
        value of its `headers`; `authorization`, `api_key`, `password`, ... fields anywhere;
        credential headers in any `headers` object); `obj` itself if none changed."""
        if isinstance(obj, list):
            items = [self._fields(v) for v in obj]
            return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
        if not isinstance(obj, dict):
            return obj
        mcp = obj.get("type") == "mcp"
        changed = False
        out: dict[str, Any] = {}
        for k, v in obj.items():
            nv = v
            low = k.lower() if isinstance(k, str) else ""
            if isinstance(v, str) and v != PLACEHOLDER and (
                    (mcp and low == "authorization") or _CREDENTIAL_FIELD.search(low)):
                nv = PLACEHOLDER
            elif low == "headers" and isinstance(v, dict):
                nv = {h: (PLACEHOLDER if isinstance(hv, str) and (mcp or self.secret_header(h))
                          else self._fields(hv)) for h, hv in v.items()}
                if nv == v:
                    nv = v
            elif isinstance(v, (dict, list)):
                nv = self._fields(v)
            changed = changed or nv is not v
            out[k] = nv
        return out if changed else obj

    def fields_in(self, obj: Any) -> bool:
        """Whether `obj` (a parsed event) holds a credential field `event` would replace."""
        try:
            return self._fields(obj) is not obj
        except RecursionError:
            return False

    def event(
        self, raw: str, event: dict[str, Any], direction: str
    ) -> tuple[str, dict[str, Any]] | None:
        """Redact one JSON event; returns its new text and object, or None to drop it.

        The base64 payload of audio events is opaque audio: the filters skip it (a user
        pattern must not rewrite samples). The writer's leak scan still covers the whole line.
        """
        if self.before_record_event is not None:
            changed = self.before_record_event(json.loads(raw), direction)
            if changed is None:
                return None
            raw = _dumps(changed)
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
        if has_gate(red, _FIELD_GATES):
            try:
                obj = event if red == raw else json.loads(red)
                fields = self._fields(obj)
            except (ValueError, RecursionError):
                fields = obj = None
            if fields is not obj:
                red = _dumps(fields)
        if red is not raw and red != raw:
            return red, json.loads(red)
        return raw, event

    def body(self, data: str | bytes, direction: str) -> str | bytes | None:
        """An HTTP body through the same pipeline as a WebSocket event: a JSON object goes
        through `before_record_event` (None: drop the exchange) and the filters; other text
        through the filters; bytes that are not UTF-8 are scanned byte for byte. Returns the
        type it was given."""
        is_bytes = isinstance(data, (bytes, bytearray))
        try:
            text = bytes(data).decode("utf-8") if is_bytes else str(data)
        except UnicodeDecodeError:
            return self.binary(bytes(data))
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
            names += find_tokens(view) if has_gate(view) else []
            if any(secret in view for secret in self._needles):
                names.append("live-secret")
            names += [f"pattern {regex.pattern!r}" for regex, repl in self.patterns
                      if any(m.group(0) != repl for m in regex.finditer(view))]
        if has_gate(text, _FIELD_GATES):
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                obj = None
            if obj is not None and self.fields_in(obj):
                names.append("credential-fields")
        return list(dict.fromkeys(names))

    def find_secret(self, text: str) -> str | None:
        """The first live secret found in `text`, raw or with JSON escapes decoded (up to three
        levels deep), as it is or base64-encoded, or None."""
        for view in _views(text) if self._needles else ():
            for needle in self._needles:
                if needle in view:
                    return needle
        return None

    def find_leak(self, text: str) -> str | None:
        """What the refuse-to-write scan finds in `text` (raw or JSON-decoded): `live secret`
        or the name of a token family; None when it is clean. Never the secret itself."""
        if self.find_secret(text) is not None:
            return "live secret"
        for view in _views(text):
            if has_gate(view):
                found = find_tokens(view)
                if found:
                    return found[0]
        return None


def _dumps(obj: Any) -> str:
    """`obj` as compact JSON, UTF-8 as it is (an escaped lone surrogate stays escaped)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, separators=(",", ":"))
    return text


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
