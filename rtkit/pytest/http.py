"""The HTTP side of a marked test (`vcr=True`): a vcrpy cassette beside the WebSocket one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rtkit.pytest.cassette import RtCassette
from rtkit.record_mode import RecordMode, vcr_record_mode

__all__ = ["http_cassette"]


@contextlib.contextmanager
def http_cassette(cassette: RtCassette) -> Iterator[Any]:
    """Record / replay the test's HTTP traffic with vcrpy, beside the WebSocket cassette."""
    import vcr

    path = cassette.http_path
    if cassette.mode is RecordMode.REWRITE:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    config = dict(cassette.options.vcr_config)
    config.setdefault("filter_headers", ["authorization", "api-key", "openai-organization"])
    config.setdefault("record_mode", vcr_record_mode(cassette.mode))
    recorder = vcr.VCR()
    with recorder.use_cassette(str(path), **config) as vcr_cassette:
        yield vcr_cassette
