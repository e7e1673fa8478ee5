"""A scripted fake of the OpenAI Realtime API, over a real WebSocket on loopback.

It speaks GA and beta like the live API (event and field shapes, ids, errors, the handshake)
and answers from rules in a script, so a first cassette needs no key. `FakeRealtimeAPI` is the
server, `rtkit fake` its command line, `rt_fake_api` its pytest fixture; `FakeConnection` is
the sans-I/O state machine behind them. See docs/fake.md.
"""

from __future__ import annotations

from rtkit.fake.connection import FakeConnection
from rtkit.fake.handshake import Handshake, read_handshake
from rtkit.fake.script import (
    ErrorReply,
    FakeScript,
    FakeScriptError,
    FunctionCall,
    Reply,
    Rule,
    Turn,
    When,
    load_script,
)
from rtkit.fake.server import ConnectionRecord, FakeRealtimeAPI
from rtkit.fake.speech import tone

__all__ = [
    "ConnectionRecord",
    "ErrorReply",
    "FakeConnection",
    "FakeRealtimeAPI",
    "FakeScript",
    "FakeScriptError",
    "FunctionCall",
    "Handshake",
    "Reply",
    "Rule",
    "Turn",
    "When",
    "load_script",
    "read_handshake",
    "tone",
]
