"""The `rt_cassette` fixture's object: where a test's cassette lives and what is done with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtkit.pytest.naming import http_cassette_path
from rtkit.pytest.options import RtOptions
from rtkit.record_mode import RecordMode, RecordPlan, plan

__all__ = ["RtCassette", "make_cassette", "refused_cassette"]


@dataclass(eq=False)  # compared and hashed by identity: rt_conversation looks it up
class RtCassette:
    """The `rt_cassette` fixture: where a test's cassette lives and what is done with it.

    `played` / `unplayed` come from the replay server once `rt_server` runs.
    """

    path: Path
    plan: RecordPlan
    options: RtOptions
    server: Any = None

    @property
    def mode(self) -> RecordMode:
        """The effective record mode."""
        return self.plan.mode

    @property
    def http_path(self) -> Path:
        """The vcrpy cassette for the test's HTTP traffic (used when `vcr=True`)."""
        return http_cassette_path(self.path)

    @property
    def exists(self) -> bool:
        """True when the cassette file exists."""
        return self.path.exists()

    @property
    def recording(self) -> bool:
        """True when this test may open live connections."""
        return self.plan.record

    @property
    def played(self) -> list[int]:
        """Episodes (conn numbers) the replay server has served (empty while recording)."""
        return list(getattr(self.server, "played", None) or [])

    @property
    def unplayed(self) -> list[int]:
        """Recorded episodes no connection has asked for yet (empty while recording)."""
        return list(getattr(self.server, "unplayed", None) or [])

    def load(self) -> Any:
        """The cassette as a `rtkit.cassette.Cassette`."""
        from rtkit.cassette import Cassette

        return Cassette.load(self.path)

    def dialect(self) -> str | None:
        """The dialect the cassette's header names (None when unknown or not recorded yet)."""
        try:
            with self.path.open(encoding="utf-8") as f:
                first = f.readline()
        except OSError:
            return None
        try:
            header = json.loads(first)
        except ValueError:
            return None
        dialect = header.get("dialect") if isinstance(header, dict) else None
        return dialect if dialect in ("ga", "beta") else None


def make_cassette(path: Path, options: RtOptions, test_id: str = "") -> RtCassette:
    """Decide the plan for `path` (raises `MissingCassetteError` in `none` mode, naming the
    test `test_id` in the command that records it)."""
    return RtCassette(path, plan(options.record_mode, path.exists(), str(path), test_id), options)


def refused_cassette(path: Path, options: RtOptions) -> RtCassette:
    """The cassette of a test that cannot replay it (missing in `none` mode): a replay plan
    that is never carried out (the missing cassette's error is raised instead)."""
    return RtCassette(path, RecordPlan(options.record_mode, replay=True, record=False), options)
