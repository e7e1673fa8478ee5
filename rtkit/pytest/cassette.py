"""The `rt_cassette` fixture's object: where a test's cassette lives and what is done with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtkit.pytest.naming import http_cassette_path
from rtkit.pytest.options import RtOptions
from rtkit.record_mode import RecordMode, RecordPlan, plan

__all__ = ["RtCassette", "fake_script_beside", "make_cassette", "refused_cassette"]


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
    test `test_id` in the command that records it, and the fake script the cassettes around
    it were recorded from)."""
    return RtCassette(path, plan(options.record_mode, path.exists(), str(path), test_id,
                                 lambda: fake_script_beside(path)), options)


def fake_script_beside(path: Path, limit: int = 50) -> str | None:
    """The fake's script the newest cassette near `path` (its directory, then the
    directories beside it: other test modules') was recorded from, if any (the
    `fake_script` its header's `meta` names)."""
    found: list[tuple[float, str]] = []
    beside = [d for d in sorted(path.parent.parent.glob("*")) if d != path.parent]
    for cassettes in (sorted(path.parent.glob("*.jsonl")),
                      [c for d in beside for c in sorted(d.glob("*.jsonl"))]):
        for cassette in cassettes[:limit]:
            try:
                with cassette.open(encoding="utf-8") as f:
                    header = json.loads(f.readline())
                script = header.get("meta", {}).get("fake_script")
                if isinstance(script, str):
                    found.append((cassette.stat().st_mtime, script))
            except (OSError, ValueError, AttributeError):
                continue
        if found:
            return max(found)[1]
    return None


def refused_cassette(path: Path, options: RtOptions) -> RtCassette:
    """The cassette of a test that cannot replay it (missing in `none` mode): a replay plan
    that is never carried out (the missing cassette's error is raised instead)."""
    return RtCassette(path, RecordPlan(options.record_mode, replay=True, record=False), options)
