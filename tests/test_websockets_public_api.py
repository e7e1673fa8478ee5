"""rtkit uses only what websockets documents (issue 19): every name rtkit imports from
websockets is in its API reference (https://websockets.readthedocs.io/en/stable/reference/),
and no rtkit module reaches into a websockets object's undocumented state. websockets 16 removed
a private attribute the replay server read, and every replay broke; this fails first instead.
A name added here must be in the reference: say which page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DOCUMENTED = {  # module -> names, each on the reference page named
    "websockets.asyncio.client": {"ClientConnection", "connect"},  # asyncio/client
    "websockets.asyncio.server": {"Server", "ServerConnection", "serve"},  # asyncio/server
    "websockets.sync.client": {"ClientConnection", "connect"},  # sync/client
    "websockets.sync.server": {"serve"},  # sync/server
    # legacy/client: deprecated, but apps still call it and the plugin intercepts it (issue 23)
    "websockets.legacy.client": {"connect"},
    "websockets.asyncio": {"client"},
    "websockets.sync": {"client"},
    "websockets.client": {"ClientProtocol"},  # sansio/client
    "websockets.server": {"ServerProtocol"},  # sansio/server
    "websockets.protocol": {"Protocol", "Side", "State"},  # sansio/common
    "websockets.frames": {"Frame", "Opcode", "Close", "CloseCode"},  # datastructures
    "websockets.http11": {"Request", "Response"},  # datastructures
    "websockets.datastructures": {"Headers"},  # datastructures
    "websockets.uri": {"WebSocketURI", "parse_uri"},  # datastructures ("URIs")
    "websockets.typing": {"Subprotocol", "Data", "Origin"},  # types
    "websockets.exceptions": {"ConnectionClosed", "ConnectionClosedOK",  # exceptions
                              "ConnectionClosedError", "InvalidHandshake", "InvalidStatus",
                              "InvalidURI", "InvalidMessage"},
}
# attributes of websockets' connection objects that are private or undocumented, and what
# rtkit once read (the asyncio connection's transport, protocol, write state)
PRIVATE_STATE = re.compile(r"\b(?:ws|websocket|connection|conn|upstream|downstream)\."
                           r"(?:transport|protocol|fragmented_send_waiter|paused|drain|"
                           r"send_in_progress|writes)\b")


def rtkit_sources() -> list[Path]:
    return sorted((ROOT / "rtkit").rglob("*.py"))


def project_sources() -> list[Path]:
    """Every Python file the project runs: the package, its tests, benchmarks and doc scripts.
    websockets 17.4 dropped the frames module's OP_* aliases (never in the reference) and four
    test modules that imported them stopped collecting: the tests run on every release too."""
    return sorted(path for folder in ("rtkit", "tests", "benchmarks", "docs")
                  for path in (ROOT / folder).rglob("*.py"))


def test_every_name_the_project_imports_from_websockets_is_documented() -> None:
    undocumented = []
    for path in project_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("websockets"):
                module = node.module or ""
                for alias in node.names:
                    if alias.name not in DOCUMENTED.get(module, set()):
                        undocumented.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                                            f"from {module} import {alias.name}")
            elif isinstance(node, ast.Import):
                undocumented += [f"{path.relative_to(ROOT)}:{node.lineno}: import {a.name}"
                                 for a in node.names
                                 if a.name.startswith("websockets.") and a.name not in DOCUMENTED]
    assert not undocumented, "not in websockets' API reference:\n" + "\n".join(undocumented)


def test_no_rtkit_module_reads_a_connections_private_state() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in rtkit_sources()
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if PRIVATE_STATE.search(line) and "self.protocol" not in line]
    assert not found, "\n".join(found)
