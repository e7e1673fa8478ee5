"""unittest test cases that use `rtkit.use_cassette` as users of unittest would: a decorator
on sync and async test methods, a context manager, a mismatch asserted with assertRaises.
tests/test_use_cassette.py runs them with unittest's own runner, recording first
(`RT_MODE=once` with the fake as `RTKIT_UPSTREAM_URL`), then replaying. The cassettes go to
`RT_CASSETTES`."""

from __future__ import annotations

import os
import unittest
from pathlib import Path

import rtkit
from rtkit.errors import CannotOverwriteExistingCassetteException
from tests.client_compat import load_example

CASSETTES = Path(os.environ.get("RT_CASSETTES", "cassettes"))
MODE = os.environ.get("RT_MODE", "none")
LIVE = "wss://api.openai.com/v1/realtime"  # what the app uses in production
ASYNC_APP = load_example("openai_async.py")
SYNC_APP = load_example("openai_sync.py")
GREETING = ["assistant: Hi! How can I help?"]


class SyncGreeting(unittest.TestCase):
    @rtkit.use_cassette(CASSETTES / "sync_greeting.jsonl", record_mode=MODE)
    def test_decorated(self) -> None:
        self.assertEqual(SYNC_APP.converse(LIVE, ["Hello!"])["said"], GREETING)

    def test_context_manager(self) -> None:
        with rtkit.use_cassette(CASSETTES / "sync_greeting.jsonl", record_mode="once") as used:
            self.assertEqual(SYNC_APP.converse(LIVE, ["Hello!"])["said"], GREETING)
        # the first of the two tests to run records, the other replays
        self.assertEqual(used.played, [] if used.recording else [0])
        self.assertTrue(used.path.exists())


class AsyncGreeting(unittest.IsolatedAsyncioTestCase):
    @rtkit.use_cassette(CASSETTES / "async_greeting.jsonl", record_mode=MODE)
    async def test_decorated(self) -> None:
        self.assertEqual((await ASYNC_APP.converse(LIVE, ["Hello!"]))["said"], GREETING)

    async def test_a_changed_question_is_the_mismatch(self) -> None:
        if MODE != "none":
            self.skipTest("replay only")
        with self.assertRaises(CannotOverwriteExistingCassetteException) as caught:
            async with rtkit.use_cassette(CASSETTES / "async_greeting.jsonl"):
                await ASYNC_APP.converse(LIVE, ["Good morning!"])
        self.assertIn("expected 'Hello!', got 'Good morning!'", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
