"""A plain script that records (the first time, from `RTKIT_UPSTREAM_URL` or the live API)
and then replays a sync and an async greeting with `rtkit.use_cassette`, the apps unchanged:

    python tests/use_cassette_script.py CASSETTE_DIR
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.client_compat

import rtkit
from tests.client_compat import load_example

LIVE = "wss://api.openai.com/v1/realtime"
CASSETTES = Path(sys.argv[1])


def _how(cassette) -> str:  # the RtCassette use_cassette gives
    return "(recorded)" if cassette.recording else "(replayed)"


def main() -> None:
    app = load_example("openai_sync.py")
    with rtkit.use_cassette(CASSETTES / "script_sync.jsonl", record_mode="once") as used:
        print("sync:", *app.converse(LIVE, ["Hello!"])["said"], _how(used))


async def amain() -> None:
    app = load_example("openai_async.py")
    async with rtkit.use_cassette(CASSETTES / "script_async.jsonl", record_mode="once") as used:
        said = (await app.converse(LIVE, ["What's the weather in Paris?"]))["said"]
        print("async:", " / ".join(said), _how(used))


if __name__ == "__main__":
    main()
    asyncio.run(amain())
