"""Issue 12's soak matrix, bounded: two-turn sessions (a text turn, a tool call round trip,
against the fake API) through `rtkit record --listen` and then replayed by `rtkit serve`, with
the `openai` SDK, rtkit's client, a raw websockets client and a node `ws` client, each turn sent
the moment the previous response's last frame is read (and, for the raw and node clients, in
one write). Every frame is checked in the cassette and on the other side (tests/soak/).

The full run is `python -m tests.soak` (N=200 per client, idle and beside a busy loop per
core, and every fault probe 50 times; docs/reliability.md). Here: RTKIT_SOAK_N sessions per
client (default 2), RTKIT_SOAK_BUSY=1 adds the busy loops."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from rtkit.cassette import Event
from tests.soak.__main__ import format_table, main
from tests.soak.clients import CLIENTS, Session, node_dir
from tests.soak.matrix import busy_cores, check_recorded, check_replayed, run_matrix
from tests.soak.probes import PROBES, ROOT, _outcomes

N = int(os.environ.get("RTKIT_SOAK_N", "0")) or 2
BUSY = bool(os.environ.get("RTKIT_SOAK_BUSY"))


def _node_missing() -> str | None:
    """Why the node clients cannot run here, or None."""
    where = node_dir()
    return where if isinstance(where, str) else None


async def test_every_client_through_the_recorder_then_serve_loses_nothing(
        tmp_path: Path) -> None:
    clients = [c for c in CLIENTS if not (c.startswith("node") and _node_missing())]
    rows = await run_matrix(clients, N, tmp_path, pressure=BUSY)
    assert [(r.client, r.phase) for r in rows] == [
        (c, p) for p in ("record", "serve") for c in clients]
    for row in rows:
        assert (row.runs, row.held, row.failures) == (N, N, []), row
    if len(clients) < len(CLIENTS):
        pytest.skip(f"every other client held; {_node_missing()}")


async def test_under_cpu_pressure_crossing_frames_lose_nothing(tmp_path: Path) -> None:
    clients = ["raw-crossing"]
    rows = await run_matrix(clients, 1, tmp_path, pressure=True)
    assert all((r.runs, r.held, r.failures) == (1, 1, []) for r in rows), rows
    assert {r.pressure for r in rows} == {"busy"}


async def test_busy_cores_pins_one_busy_loop_to_each_core() -> None:
    async with busy_cores() as n:
        assert n == len(os.sched_getaffinity(0))
    async with busy_cores(False) as n:
        assert n == 0


# -- the checks themselves, on plain data ---------------------------------------------------


def events(*frames: tuple[str, str]) -> list[Event]:
    return [Event(conn=0, dir=d, t=k, raw=raw, event=json.loads(raw))  # type: ignore[arg-type]
            for k, (d, raw) in enumerate(frames)]


SENT = ['{"type":"response.create","event_id":"evt_1"}']
GOT = ['{"type":"session.created"}', '{"type":"response.done","response":{"id":"r"}}']
EPISODE = events(("server", GOT[0]), ("client", SENT[0]), ("server", GOT[1]))


def test_a_recorded_session_holds_only_when_every_frame_is_everywhere() -> None:
    ok = Session("s", list(SENT), list(GOT))
    assert check_recorded(ok, (0, EPISODE, True), list(SENT), list(GOT)) is None
    lost = check_recorded(ok, (0, EPISODE[:2], True), list(SENT), list(GOT))
    assert lost is not None and "server frames in the cassette: 2 frame(s) expected, 1" in lost
    assert "client frames at the upstream" in str(check_recorded(ok, (0, EPISODE, True), [],
                                                                 list(GOT)))
    changed = [GOT[0], GOT[1].replace('"r"', '"x"')]
    assert "upstream frames at the client: frame 1 differs" in str(
        check_recorded(ok, (0, EPISODE, True), list(SENT), changed))
    assert "no close line" in str(check_recorded(ok, (0, EPISODE, False), list(SENT), list(GOT)))
    assert "the client failed: timed out" in str(
        check_recorded(Session("s", error="timed out"), (0, EPISODE, True), SENT, GOT))
    assert "no episode" in str(check_recorded(ok, None, SENT, GOT))


def test_a_replayed_session_may_differ_only_by_the_ids_the_client_invented() -> None:
    recorded = events(
        ("server", '{"type":"session.created"}'),
        ("client", '{"type":"conversation.item.create","event_id":"evt_old",'
                   '"item":{"id":"item_old","role":"user"}}'),
        ("server", '{"type":"conversation.item.added","item":{"id":"item_old"}}'),
        ("server", '{"type":"error","error":{"code":"x","event_id":"evt_old"}}'))
    sent = ['{"type":"conversation.item.create","event_id":"evt_new",'
            '"item":{"id":"item_new","role":"user"}}']
    got = ['{"type":"session.created"}',
           '{"type":"conversation.item.added","item":{"id":"item_new"}}',
           '{"type":"error","error":{"code":"x","event_id":"evt_new"}}']
    assert check_replayed(Session("s", sent, got), recorded) == (None, 2)
    assert check_replayed(Session("s", sent, [got[0], got[2], got[1]]), recorded)[0]
    other_text = [sent[0].replace('"user"', '"assistant"')]
    assert "beyond its ids" in str(check_replayed(Session("s", other_text, got), recorded)[0])
    assert "server frames" in str(check_replayed(Session("s", sent, got[:2]), recorded)[0])
    rebound_elsewhere = [got[0], got[1].replace("item_new", "item_other"), got[2]]
    assert "server frame 1 differs" in str(
        check_replayed(Session("s", sent, rebound_elsewhere), recorded)[0])


# -- the runner ---------------------------------------------------------------------------------


def test_the_table_and_the_runners_options() -> None:
    table = format_table([("raw via rtkit record (idle)", 200, 200), ("ping flood", 50, 49)])
    assert table.splitlines() == [
        "probe                       |  runs |  held",
        "----------------------------|-------|------",
        "raw via rtkit record (idle) |   200 |   200",
        "ping flood                  |    50 |    49"]
    with pytest.raises(SystemExit) as bad:
        main(["--clients", "telnet"])
    assert bad.value.code == 2


def test_every_probe_names_tests_that_exist_and_docs_list_them_all() -> None:
    docs = (ROOT / "docs" / "reliability.md").read_text()
    for probe in PROBES:
        for node in probe.tests:
            path, _, name = node.partition("::")
            source = (ROOT / path).read_text()
            assert re.search(rf"^(async )?def {re.escape(name.split('[')[0])}\(", source, re.M), \
                node
            assert f"`{node.split('/')[-1]}`" in docs, f"docs/reliability.md lacks {node}"


def test_probe_outcomes_are_read_from_junit_xml(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.test_a" name="test_ok[x]"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="boom"/></testcase>'
        '<testcase classname="tests.test_b" name="test_root"><skipped message="root"/></testcase>'
        '</testsuite></testsuites>')
    assert _outcomes(junit) == {"tests/test_a.py::test_ok[x]": ("passed", ""),
                                "tests/test_a.py::test_bad": ("failed", "boom"),
                                "tests/test_b.py::test_root": ("skipped", "root")}
