"""What the proxy's `on_frame` observer is told is known before the client can have the frame:
a test that reads the plugin's live log right after its client received `response.done` finds
it there (the observer runs on rtkit's IO thread, the client on another)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from websockets.sync.client import connect

from rtkit.fake import FakeRealtimeAPI
from rtkit.pytest.ioloop import IOLoop
from rtkit.server.proxy import RecordingProxy


def test_a_frame_the_client_received_is_already_in_the_observers_log(tmp_path: Path) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def observe(conn: int, direction: str, frame: str | bytes) -> None:
        time.sleep(0.002)  # a slow observer: the client must still not get ahead of it
        with lock:
            seen.append(frame if isinstance(frame, str) else frame.decode())

    loop = IOLoop()
    script = {"default": {"text": "The capital of France is Paris."}, "delta_ms": 0}
    try:
        with FakeRealtimeAPI(script) as upstream:
            proxy = RecordingProxy(tmp_path / "c.jsonl", upstream_url=upstream.url, api_key=None,
                                   on_frame=observe)
            loop.run(proxy.start())
            try:
                with connect(proxy.url + "?model=gpt-realtime") as ws:
                    ws.send(json.dumps({"type": "conversation.item.create", "item": {
                        "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "Capital of France?"}]}}))
                    ws.send(json.dumps({"type": "response.create"}))
                    missing = []
                    while True:
                        frame = ws.recv(timeout=10)
                        with lock:
                            if frame not in seen:
                                missing.append(json.loads(frame)["type"])
                        if json.loads(frame)["type"] == "response.done":
                            break
            finally:
                loop.run(proxy.stop())
    finally:
        loop.close()
    assert missing == []
