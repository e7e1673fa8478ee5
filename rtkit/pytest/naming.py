"""Where a test's cassettes live: names sanitised as pytest-recording sanitises them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "CASSETTE_SUFFIX",
    "HTTP_CASSETTE_SUFFIX",
    "cassette_path",
    "default_cassette_name",
    "http_cassette_path",
]

CASSETTE_SUFFIX = ".jsonl"
HTTP_CASSETTE_SUFFIX = ".http.yaml"

try:
    MAX_FILENAME_LEN = os.pathconf(".", "PC_NAME_MAX")
except (AttributeError, ValueError, OSError):  # pragma: no cover - Windows
    MAX_FILENAME_LEN = 255


def default_cassette_name(test_class: type | None, test_name: str) -> str:
    """`Class.test_name[param]` with file-name-unsafe characters replaced, as pytest-recording.

    Names too long for the file system are shortened with a hash suffix.
    """
    name = f"{test_class.__name__}.{test_name}" if test_class else test_name
    for ch in r"<>?%*:|\"'/\\":
        name = name.replace(ch, "-")
    longest = max(len(CASSETTE_SUFFIX), len(HTTP_CASSETTE_SUFFIX))
    if len(name) + longest > MAX_FILENAME_LEN:
        digest = hashlib.md5(name.encode()).hexdigest()
        name = f"{name[: MAX_FILENAME_LEN - longest - len(digest) - 3]}...{digest}"
    return name


def cassette_path(directory: str | os.PathLike[str], name: str) -> Path:
    """`<directory>/<name>.jsonl` (a name ending in `.jsonl` or absolute is kept)."""
    path = Path(name)
    if not path.is_absolute():
        path = Path(directory) / path
    if path.suffix != CASSETTE_SUFFIX:
        path = path.with_name(path.name + CASSETTE_SUFFIX)
    return path


def http_cassette_path(path: Path) -> Path:
    """The vcrpy cassette beside the WebSocket cassette `path` (`x.jsonl` -> `x.http.yaml`)."""
    return path.with_name(path.name[: -len(CASSETTE_SUFFIX)] + HTTP_CASSETTE_SUFFIX)
