"""The recording proxy's upstream handshake: which URL, headers and subprotocols to send, and
opening the connection (directly or through an HTTP CONNECT proxy) with `websockets`' sans-I/O
client protocol, so that an upstream's refusal comes back as its own status and body."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import urllib.request
from importlib import metadata
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from rtkit import __version__
from rtkit.cassette.redact import DROPPED_HEADERS, INSECURE_KEY_PROTOCOL
from rtkit.server.relay import Side

__all__ = ["AUTH_FORMS", "MAX_HEAD", "Refused", "auth_form", "open_upstream",
           "upstream_request"]

MAX_HEAD = 1 << 16  # largest HTTP handshake head accepted
# what the upstream sees as the client: rtkit's recorder (the app's own User-Agent is not sent)
USER_AGENT = f"rtkit/{__version__} (recording proxy; websockets/{metadata.version('websockets')})"
_AUTH_HEADERS = frozenset({"authorization", "api-key"})
AUTH_FORMS = ("auto", "bearer", "api-key")
_AZURE_HOSTS = (".openai.azure.com",)


def auth_form(upstream_url: str, form: str = "auto") -> str:
    """How the upstream takes the key: `api-key` (an `api-key` header, as Azure OpenAI's key
    auth does) or `bearer` (`Authorization: Bearer`, as OpenAI does). `auto`: `api-key` for
    `*.openai.azure.com` hosts, else `bearer`."""
    if form not in AUTH_FORMS:
        raise ValueError(f"upstream auth must be one of {', '.join(AUTH_FORMS)}, not {form!r}")
    if form != "auto":
        return form
    host = (urlsplit(upstream_url).hostname or "").lower()
    return "api-key" if host.endswith(_AZURE_HOSTS) else "bearer"


class Refused(Exception):
    """The upstream handshake failed; `status` and `body` are what the client gets."""

    def __init__(self, status: int, body: str, message: str) -> None:
        super().__init__(message)
        self.status, self.body = status, body


def upstream_request(upstream_url: str, api_key: str | None, path: str, query: str,
                     headers: dict[str, str], subprotocols: list[str], auth: str = "auto"
                     ) -> tuple[str, dict[str, str], list[str]]:
    """The upstream URL, headers and subprotocols for a client's handshake.

    The key goes in the form the upstream takes (`auth_form`): `Authorization: Bearer` or an
    `api-key` header; whatever credential header the client sent is dropped either way.

    The upstream URL's own query comes first, then the client's other parameters. A client
    that asked for the upstream URL's path gets it; any other path is asked of the upstream as
    it is, so that the upstream answers it (a wrong path gets the upstream's own 404)."""
    up = urlsplit(upstream_url)
    params = parse_qsl(up.query, keep_blank_values=True)
    names = {k for k, _ in params}
    params += [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
    url = urlunsplit(up._replace(path=up.path if path == up.path else path,
                                 query=urlencode(params, safe="/:-_.")))
    fwd = {k: v for k, v in headers.items()
           if k.lower() not in DROPPED_HEADERS and k.lower() not in _AUTH_HEADERS
           and k.lower() not in ("origin", "user-agent")}
    if api_key:
        if auth_form(upstream_url, auth) == "api-key":
            fwd["api-key"] = api_key
        else:
            fwd["Authorization"] = f"Bearer {api_key}"
    # the client's placeholder key never goes upstream: ours replaces it, or (no key of our
    # own, e.g. a keyless loopback upstream) it is dropped like its Authorization header
    protos = [
        INSECURE_KEY_PROTOCOL + api_key if p.startswith(INSECURE_KEY_PROTOCOL) else p
        for p in subprotocols
        if api_key or not p.startswith(INSECURE_KEY_PROTOCOL)
    ]
    return url, fwd, protos


def _proxy_for(uri: WebSocketURI) -> str | None:
    """The proxy for `uri` from the environment (WS_PROXY / WSS_PROXY, HTTPS_PROXY,
    HTTP_PROXY, NO_PROXY), chosen as websockets' own client chooses it, read with urllib's
    public `getproxies` / `proxy_bypass`."""
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    proxies = urllib.request.getproxies()
    schemes = ["wss", "socks", "https"] if uri.secure else ["ws", "socks", "https", "http"]
    for scheme in schemes:
        proxy = proxies.get(scheme)
        if proxy:
            return "socks5h://" + proxy[7:] if scheme == "socks" and \
                proxy.startswith("http://") else proxy
    return None


def _connect_request(proxy: SplitResult, uri: WebSocketURI) -> bytes:
    """The CONNECT request for `uri` through an HTTP proxy (Basic credentials from its
    URL's userinfo, as curl and websockets send them)."""
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    lines = [f"CONNECT {host}:{uri.port} HTTP/1.1", f"Host: {host}:{uri.port}",
             f"User-Agent: {USER_AGENT}"]
    if proxy.username is not None:
        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair).decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _tunnel(proxy_url: str, uri: WebSocketURI, timeout: float = 15.0) -> socket.socket:
    """A socket to the upstream through an HTTP proxy (CONNECT), opened in a thread."""
    proxy = urlsplit(proxy_url)
    if proxy.scheme != "http" or not proxy.hostname:
        raise Refused(502, "", f"the proxy {_without_userinfo(proxy)} is not supported by the "
                               "recording proxy (http:// proxies are); unset it for rtkit")
    address = (proxy.hostname, proxy.port or 80)
    sock = socket.create_connection(address, timeout=timeout)
    try:
        sock.sendall(_connect_request(proxy, uri))
        head = b""
        while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
            data = sock.recv(4096)
            if not data:
                break
            head += data
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status.split(" ", 2)
        if len(parts) < 2 or not parts[1].startswith("2"):
            raise Refused(502, "", f"the proxy {address[0]}:{address[1]} refused CONNECT to "
                                   f"{uri.host}:{uri.port}: {status or 'no answer'}")
        sock.settimeout(None)
        return sock
    except BaseException:
        sock.close()
        raise


def _without_userinfo(url: SplitResult) -> str:
    netloc = url.hostname or ""
    if url.port:
        netloc += f":{url.port}"
    return urlunsplit(url._replace(netloc=netloc))


async def open_upstream(url: str, headers: dict[str, str], protocols: list[str]
                        ) -> tuple[Side, str | None]:
    """Open the upstream WebSocket; return its side (bytes read past the handshake stay in
    its `pending`) and the subprotocol it chose. Raises `Refused` with the upstream's own
    status and body when it refuses, and 502 when it cannot be reached."""
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise Refused(502, "", f"bad upstream URL {url}: {exc}") from None
    client = ClientProtocol(uri, subprotocols=[Subprotocol(p) for p in protocols] or None,
                            max_size=None)
    request = client.connect()
    for name, value in headers.items():
        request.headers[name] = value
    request.headers["User-Agent"] = USER_AGENT
    context = ssl.create_default_context() if uri.secure else None
    via = _proxy_for(uri)
    sock = await asyncio.to_thread(_tunnel, via, uri) if via is not None else None
    loop = asyncio.get_running_loop()
    _, up = await loop.create_connection(
        lambda: Side("server"), None if sock else uri.host, None if sock else uri.port,
        sock=sock, ssl=context, server_hostname=uri.host if context else None)
    try:
        client.send_request(request)
        up.write(b"".join(client.data_to_send()))
        head = await up.read_until(b"\r\n\r\n", MAX_HEAD)
        if head is None:
            raise Refused(502, "", f"upstream {url} closed the connection or sent no valid "
                                   "HTTP response to the handshake")
        client.receive_data(head)
        events = client.events_received()
        while not events and client.handshake_exc is None:  # a refusal's body
            if up.pending:
                data, up.pending = bytes(up.pending), bytearray()
                client.receive_data(data)
            elif not await up.read_more():
                client.receive_eof()
                events = client.events_received()
                if not events and client.handshake_exc is None:
                    raise Refused(502, "", f"upstream {url} closed the connection before "
                                           "the end of its handshake response")
                break
            events = client.events_received()
    except BaseException:
        up.abort()
        raise
    exc = client.handshake_exc
    if exc is not None:
        up.abort()
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            body = bytes(exc.response.body or b"").decode("utf-8", "replace")
            raise Refused(status, body, f"upstream {url} refused the handshake with HTTP {status}")
        raise Refused(502, "", f"cannot reach upstream {url}: {exc}")
    # the subprotocol the upstream chose, from its response (the protocol validated it)
    response = next((e for e in events if isinstance(e, Response)), None)
    return up, response.headers.get("Sec-WebSocket-Protocol") if response is not None else None
