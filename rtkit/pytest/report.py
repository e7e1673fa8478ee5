"""The HTML report of a replayed test that failed on a mismatch or a conversation assertion.

The page (`rtkit.view.write_pair`) shows the recorded cassette and what this run sent and
received side by side: both conversations aligned item by item, both timelines and audio,
the differing event highlighted in both, and at the top the failure with that event as
recorded and as sent. Its path is added to the failure (an exception note, so pytest prints
it under the error). It goes to `--rt-report-dir`, by default `rtkit-reports/` beside
pytest's own temporary directories (`<tmp>/pytest-of-<user>/`, or beside `--basetemp`).
"""

from __future__ import annotations

import getpass
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rtkit.assertions import ConversationAssertionError, RecordedEvent
from rtkit.errors import ReplayError
from rtkit.pytest.naming import default_cassette_name
from rtkit.pytest.session import RtSession

__all__ = ["REPORT_DIR_OPTION", "add_report_option", "default_report_dir", "failure_report",
           "write_failure_report"]

REPORT_DIR_OPTION = "--rt-report-dir"
_POSITION = re.compile(r"episode \(conn\) (\d+): client event #(\d+)")


def add_report_option(group: Any) -> None:
    """Register `--rt-report-dir` in the plugin's option group."""
    group.addoption(
        REPORT_DIR_OPTION, action="store", default=None, metavar="DIR",
        help="where rtkit writes the HTML report of a replayed test that fails on a mismatch "
             "or a conversation assertion (default: rtkit-reports/ beside pytest's temporary "
             "directories).",
    )


def default_report_dir(config: pytest.Config) -> Path:
    """`rtkit-reports/` beside pytest's temporary directories: beside `--basetemp` when it is
    given, else in `<tmp>/pytest-of-<user>/` (where pytest keeps its `pytest-N`)."""
    basetemp = config.getoption("basetemp", None)
    if basetemp:
        return Path(basetemp).resolve().parent / "rtkit-reports"
    root = Path(os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir())
    try:
        user = getpass.getuser()
    except (ImportError, KeyError, OSError):
        user = "unknown"
    return root.resolve() / f"pytest-of-{user}" / "rtkit-reports"


@contextmanager
def failure_report(item: pytest.Item, session: RtSession) -> Iterator[None]:
    """Around a replayed test's call: when it fails on a replay error or a conversation
    assertion, write the report and add its path to the error."""
    try:
        yield
    except (ReplayError, ConversationAssertionError) as exc:
        if session.cassette.plan.replay and not getattr(exc, "rtkit_report", None):
            try:
                path = write_failure_report(item, session, exc)
            except Exception as problem:  # the test's own failure must come through
                _note(exc, f"rtkit: the HTML report could not be written: {problem}")
            else:
                exc.rtkit_report = path  # type: ignore[union-attr]
                _note(exc, f"rtkit: HTML report of this failure: {path}")
        raise


def _note(exc: BaseException, text: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(text)
    else:  # pragma: no cover - Python 3.10
        exc.__notes__ = [*getattr(exc, "__notes__", []), text]  # type: ignore[attr-defined]


def _recorded(path: Path, conn: int, direction: str) -> list[dict[str, Any]]:
    from rtkit.cassette import Cassette

    cassette = Cassette.load(path)
    if all(ep.conn != conn for ep in cassette.episodes):
        return []
    return [dict(ev.event) for ev in cassette.iter_events(conn, direction)]


def _differing(session: RtSession, exc: BaseException, log: list[RecordedEvent]
               ) -> tuple[int, str, int] | None:
    """(conn, lane, index in the lane) of the event the failure is about."""
    if isinstance(exc, ConversationAssertionError):
        target, source = exc.event, exc.source
        if target is None or source is None:
            return None
        counts: dict[int, int] = {}
        for ev in log:
            if ev.source != source:
                continue
            conn = ev.conn if isinstance(ev.conn, int) else 0
            if ev is target or (ev.event == target.event and ev.conn == target.conn):
                return conn, source, counts.get(conn, 0)
            counts[conn] = counts.get(conn, 0) + 1
        return None
    found = _POSITION.search(str(exc))
    if found:
        return int(found[1]), "client", int(found[2]) - 1
    from rtkit.replay.matching import MatchPolicy, compare_events

    options = session.options.replay_options
    policy = MatchPolicy(audio=options.get("audio_match", "any"),
                         ignore_paths=tuple(options.get("ignore_paths", ())),
                         matchers=tuple(options.get("matchers", ())),
                         match_on=tuple(options.get("match_on", ("type", "content"))))
    sent: dict[int, list[dict[str, Any]]] = {}
    for ev in log:
        if ev.source == "client":
            sent.setdefault(ev.conn if isinstance(ev.conn, int) else 0, []).append(dict(ev.event))
    for conn, events in sorted(sent.items()):
        recorded = _recorded(session.cassette.path, conn, "client")
        bindings: dict[str, str] = {}
        for index, actual in enumerate(events):
            if index >= len(recorded):
                return conn, "client", index
            diffs, new = compare_events(recorded[index], actual, policy, bindings)
            if diffs:
                return conn, "client", index
            bindings.update(new)
    return None


def write_failure_report(item: pytest.Item, session: RtSession, exc: BaseException) -> Path:
    """Write the report of `item`'s failure `exc`; returns its path."""
    from rtkit.replay.matching import MatchPolicy, compare_events
    from rtkit.view import Failure, SideSource, write_pair

    directory = item.config.getoption(REPORT_DIR_OPTION, None)
    directory = Path(directory) if directory else default_report_dir(item.config)
    path = directory / f"{default_cassette_name(None, item.nodeid)}.html"
    log = session.log.events()
    cassette = session.cassette.path
    failure = Failure(str(exc))
    highlight: dict[int, set[tuple[str, int]]] = {}
    where = _differing(session, exc, log)
    if where is not None:
        conn, lane, index = where
        highlight = {conn: {(lane, index)}}
        recorded = _recorded(cassette, conn, lane)
        actual = [dict(ev.event) for ev in log if ev.source == lane
                  and (ev.conn if isinstance(ev.conn, int) else 0) == conn]
        failure.where = f"episode {conn}, {lane} event #{index + 1}"
        failure.expected = recorded[index] if index < len(recorded) else None
        failure.actual = actual[index] if index < len(actual) else None
        if failure.expected is not None and failure.actual is not None:
            diffs, _ = compare_events(failure.expected, failure.actual, MatchPolicy(), {})
            failure.differences = [str(d) for d in diffs]
    write_pair(SideSource(f"recorded: {cassette.name}", path=cassette, highlight=highlight),
               SideSource("this run", events=log, highlight=highlight), path,
               title=f"rtkit: {item.nodeid} failed", failure=failure)
    return path
