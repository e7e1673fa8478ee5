"""The API key for recording: the environment, else a `.env` file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from rtkit.record_mode import RecordMode

__all__ = ["API_KEY_ENV", "find_api_key", "missing_key_message", "read_dotenv"]

API_KEY_ENV = "OPENAI_API_KEY"


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `export` prefixes, quotes, `#` comments."""
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def find_api_key(
    search_dirs: Iterable[str | os.PathLike[str]], environ: Mapping[str, str] | None = None
) -> str | None:
    """`OPENAI_API_KEY` from the environment, else from the first `.env` that sets it."""
    environ = os.environ if environ is None else environ
    key = environ.get(API_KEY_ENV)
    if key:
        return key
    seen: set[Path] = set()
    for directory in search_dirs:
        path = (Path(directory) / ".env").resolve()
        if path in seen:
            continue
        seen.add(path)
        key = read_dotenv(path).get(API_KEY_ENV)
        if key:
            return key
    return None


def missing_key_message(cassette: Path, mode: RecordMode, upstream: str,
                        replay: str = "run with --rt-record-mode=none") -> str:
    """The failure text for a record mode without a key (`replay`: how to replay instead)."""
    return (
        f"rtkit: record mode {mode.value!r} needs OPENAI_API_KEY to record {cassette}\n"
        f"from {upstream}, and none was found in the environment or a .env file.\n"
        "Set OPENAI_API_KEY, record from a local server with RTKIT_UPSTREAM_URL=ws://127.0.0.1:"
        f"PORT/v1/realtime (no key needed), or {replay} to replay the existing cassette."
    )
