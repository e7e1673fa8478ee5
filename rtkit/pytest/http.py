"""The HTTP side of a marked test (`vcr=True`): a vcrpy cassette beside the WebSocket one,
through the same redaction pipeline and the same final leak scan.

vcrpy's own filters (`filter_headers`, `filter_query_parameters`) and hooks
(`before_record_request`, `before_record_response`) keep their names and semantics; after the
user's hooks, rtkit's run: secret headers removed, the built-in secret patterns and the live
keys removed from header values, query and bodies, and JSON bodies passed to
`before_record_event` (requests as "client", responses as "server"; None drops the exchange).
vcrpy applies the request side at playback too, so a filtered request still matches. The file is
written atomically, mode 0600 like the `.jsonl`, and refused when it would still hold a live key.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rtkit.cassette.redact import PLACEHOLDER, SECRET_HEADERS, SECRET_QUERY_PARAMS, Redactor
from rtkit.errors import RtkitError, SecretLeakError
from rtkit.pytest.cassette import RtCassette
from rtkit.record_mode import RecordMode, vcr_record_mode

__all__ = ["HTTP_SECRET_HEADERS", "HttpRedaction", "http_cassette", "vcr_persistence"]

# removed from recorded requests, whatever the user says (after their credentials are noted)
HTTP_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "openai-organization",
                       "openai-project", "proxy-authorization", "cookie")
_REQUEST_SECRET_HEADERS = frozenset(HTTP_SECRET_HEADERS) | SECRET_HEADERS
_RESPONSE_SECRET_HEADERS = frozenset({"set-cookie"})


class HttpRedaction:
    """rtkit's vcrpy hooks and persister for one test, sharing its `Redactor`.

    The live secrets it refuses to write are the redactor's plus every credential a recorded
    request carried (bearer tokens, `api-key` / `x-api-key` values).
    """

    def __init__(self, redactor: Redactor, fresh: bool = False) -> None:
        self.redactor = redactor
        self.fresh = fresh  # rewrite: start empty; the old file stays until the new replaces it

    def _learn(self, headers: Any) -> None:
        found = []
        for name, value in list(headers.items()):
            lname = name.lower()
            value = value[0] if isinstance(value, list) and value else value
            if not isinstance(value, str):
                continue
            if lname in ("authorization", "proxy-authorization") and " " in value:
                found.append(value.split(" ", 1)[1].strip())
            elif lname in ("api-key", "x-api-key"):
                found.append(value.strip())
        if found:
            self.redactor = self.redactor.with_secrets(*found)

    def before_record_request(self, request: Any) -> Any:
        """vcrpy's request hook: credentials, the query and the body redacted."""
        self._learn(request.headers)
        red = self.redactor
        if request.body:
            body = red.body(request.body, "client")
            if body is None:
                return None
            request.body = body
        for name in list(request.headers):
            value = request.headers[name]
            lname = name.lower()
            if lname in red.secret_headers or lname in _REQUEST_SECRET_HEADERS:
                del request.headers[name]  # as vcrpy's filter_headers removes a header
            elif isinstance(value, str):
                request.headers[name] = red.text(value)
        parts = urlsplit(request.uri)
        query, path = red.query(parts.query), red.path(parts.path)
        if query != parts.query or path != parts.path:
            request.uri = urlunsplit(parts._replace(path=path, query=query))
        return request

    def before_record_response(self, response: Any) -> Any:
        """vcrpy's response hook: header values and the body redacted."""
        red = self.redactor
        body = response.get("body") or {}
        data = body.get("string")
        headers = response.get("headers") or {}
        if data:
            new = red.body(data, "server")
            if new is None:
                return None
            if new is not data:
                body["string"] = new
                _set_length(headers, new)
        for name in list(headers):
            values = headers[name]
            if name.lower() in _RESPONSE_SECRET_HEADERS:
                headers[name] = [PLACEHOLDER for _ in values] if isinstance(values, list) \
                    else PLACEHOLDER
            elif isinstance(values, list):
                headers[name] = [red.text(v) if isinstance(v, str) else v for v in values]
            elif isinstance(values, str):
                headers[name] = red.text(values)
        return response

    # -- vcrpy's persister interface --------------------------------------------------------

    def load_cassette(self, cassette_path: Any, serializer: Any) -> Any:
        """Load as vcrpy does (nothing in rewrite mode: the new recording replaces the file
        when it is saved, so a run killed before that leaves the previous one)."""
        if self.fresh:
            raise vcr_not_found()
        return vcr_persistence()[0].load_cassette(cassette_path, serializer)

    def save_cassette(self, cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        """Serialize, refuse a live secret, write atomically (mode 0600)."""
        path = Path(cassette_path)
        data = vcr_persistence()[1](cassette_dict, serializer)
        for lineno, line in enumerate(data.splitlines(), start=1):
            found = self.redactor.find_leak(line)
            if found is not None:
                raise SecretLeakError(
                    f"{path}: refusing to write the HTTP cassette: a secret ({found}: an API "
                    f"key, a request's credential or a token) is still present at line "
                    f"{lineno}; filter it "
                    "(filter_headers, filter_query_parameters, before_record_request / "
                    "before_record_response). The previous cassette, if any, is unchanged.")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".rtkit-tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def vcr_persistence() -> tuple[Any, Callable[[Any, Any], str]]:
    """vcrpy's `FilesystemPersister` and `vcr.serialize.serialize`, for the persister above.

    vcrpy documents the persister interface (`register_persister`, `load_cassette`,
    `save_cassette`) with `FilesystemPersister` as its example, but neither name is in its API
    reference, and loading or serializing a cassette has no other public entry. So they are
    looked up here only, and a vcrpy that moved them is named (tests/test_undocumented_names.py
    checks both on every run).
    """
    try:
        from vcr.persisters.filesystem import FilesystemPersister
        from vcr.serialize import serialize
    except ImportError as exc:
        raise RtkitError(
            "rtkit's HTTP cassettes (vcr=True) use vcrpy's FilesystemPersister "
            "(vcr.persisters.filesystem) and vcr.serialize.serialize, which vcrpy "
            f"{_version('vcrpy')} no longer has ({exc}); install an earlier vcrpy (rtkit "
            "declares the lowest it works with) until rtkit follows the move") from exc
    return FilesystemPersister, serialize


def vcr_not_found() -> Exception:
    """vcrpy's `CassetteNotFoundError`: its docs on custom persisters say `load_cassette`
    raises it when there is no cassette (imported from `vcr.persisters.filesystem`)."""
    from vcr.persisters.filesystem import CassetteNotFoundError

    return CassetteNotFoundError()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def _set_length(headers: Any, body: str | bytes) -> None:
    """Keep a response's Content-Length true to a body redaction changed."""
    size = len(body.encode("utf-8") if isinstance(body, str) else body)
    for name in list(headers):
        if name.lower() == "content-length":
            headers[name] = [str(size)] if isinstance(headers[name], list) else str(size)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@contextlib.contextmanager
def http_cassette(cassette: RtCassette, redactor: Redactor | None = None) -> Iterator[Any]:
    """Record / replay the test's HTTP traffic with vcrpy, beside the WebSocket cassette."""
    import vcr

    options = cassette.options
    path = cassette.http_path
    redaction = HttpRedaction(redactor or Redactor(), fresh=cassette.mode is RecordMode.REWRITE)
    config = dict(options.vcr_config)
    config["filter_headers"] = [*_as_list(config.get("filter_headers")),
                                *options.filter_headers]
    config["filter_query_parameters"] = [
        *_as_list(config.get("filter_query_parameters")), *options.filter_query_parameters,
        *((name, PLACEHOLDER) for name in sorted(SECRET_QUERY_PARAMS))]
    config["before_record_request"] = [
        *_as_list(config.get("before_record_request")),
        *_as_list(options.before_record_request), redaction.before_record_request]
    config["before_record_response"] = [
        *_as_list(config.get("before_record_response")),
        *_as_list(options.before_record_response), redaction.before_record_response]
    config.setdefault("decode_compressed_response", True)  # bodies the scan can read
    config.setdefault("record_mode", vcr_record_mode(cassette.mode))
    recorder = vcr.VCR()
    recorder.register_persister(redaction)
    with recorder.use_cassette(str(path), **config) as vcr_cassette:
        yield vcr_cassette
