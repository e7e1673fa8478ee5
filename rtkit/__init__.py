"""rtkit: record/replay testing for OpenAI Realtime API apps, and a Python Realtime client."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use, so `import rtkit` stays cheap)
_EXPORTS = {
    "RealtimeClient": "rtkit.client.client",
    "RealtimeAPI": "rtkit.client.api",
    "RealtimeConversation": "rtkit.client.conversation",
    "RealtimeEventHandler": "rtkit.client.event_handler",
    "Transport": "rtkit.transport.base",
    "ConnectRequest": "rtkit.transport.base",
    "Close": "rtkit.transport.base",
    "WebSocketTransport": "rtkit.transport.websocket",
    "RecordingTransport": "rtkit.transport.recording",
    "ReplayTransport": "rtkit.transport.replay",
    "ReplayServer": "rtkit.server.replay_server",
    "RecordingProxy": "rtkit.server.proxy",
    "FakeRealtimeAPI": "rtkit.fake.server",
    "Cassette": "rtkit.cassette",
    "CannotOverwriteExistingCassetteException": "rtkit.errors",
    "rt_conversation": "rtkit.assertions",
    "use_cassette": "rtkit.outside_pytest",
}

__all__ = [
    "CannotOverwriteExistingCassetteException",
    "Cassette",
    "Close",
    "ConnectRequest",
    "FakeRealtimeAPI",
    "RealtimeAPI",
    "RealtimeClient",
    "RealtimeConversation",
    "RealtimeEventHandler",
    "RecordingProxy",
    "RecordingTransport",
    "ReplayServer",
    "ReplayTransport",
    "Transport",
    "WebSocketTransport",
    "__version__",
    "rt_conversation",
    "use_cassette",
]

if TYPE_CHECKING:
    from rtkit.client.api import RealtimeAPI
    from rtkit.client.client import RealtimeClient
    from rtkit.client.conversation import RealtimeConversation
    from rtkit.client.event_handler import RealtimeEventHandler
    from rtkit.outside_pytest import use_cassette


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rtkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
