"""The logic behind the `rt_fake_api` pytest fixture (the plugin only wires it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rtkit.fake.script import ScriptSource
from rtkit.fake.server import FakeRealtimeAPI

__all__ = ["MARKER", "fake_for_test"]

MARKER = "rt_fake"
_OPTIONS = ("script", "api_key", "dialect", "seed")


def fake_for_test(node: Any, script: ScriptSource | None) -> FakeRealtimeAPI:
    """The (not yet started) fake for a test: `@pytest.mark.rt_fake(script=..., api_key=...,
    dialect=..., seed=...)` over the `rt_fake_script` fixture's `script`. A relative script
    path is taken from the test file's directory."""
    marker = node.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"@pytest.mark.{MARKER}: unknown option(s) {', '.join(unknown)} "
                         f"(expected {', '.join(_OPTIONS)})")
    source = options.pop("script", script)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_absolute():
        source = Path(node.path).parent / source
    return FakeRealtimeAPI(source, **options)
