"""Event numbers are one base everywhere: the recorded event a mismatch report names ("the
episode's client event #N, FILE:LINE") is the one `rtkit inspect --events` lists as `client
#N` on that line, and N counts the episode's client events from 1."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cassette import Cassette
from rtkit.cli import main
from rtkit.replay.player import CassettePlayer

ROOT = Path(__file__).resolve().parent.parent
NAMED = re.compile(r"client event #(\d+) does not match the recorded '([\w.]+)'"
                   r" \(the episode's client event #(\d+), (.+):(\d+)\)\.\n")


@pytest.mark.parametrize("order", ["causal", "strict"])
def test_a_mismatch_names_the_event_inspect_lists(order: str) -> None:
    path = ROOT / "cassettes" / "ga" / "tool_call.jsonl"
    recorded = list(Cassette.load(path).iter_events(0, "client"))
    changed = max(i for i, e in enumerate(recorded, 1)  # the tool's output: late in the episode
                  if e.event.get("type") == "conversation.item.create")
    assert changed > 2
    player = CassettePlayer.open(path, order=order)
    engine = player.engine(player.pick("/v1/realtime", "model=gpt-realtime"))
    engine.start()
    for number, event in enumerate(recorded, 1):
        sent = json.loads(event.raw)
        if number == changed:
            sent["item"]["output"] = '{"temp_c": -5}'
        engine.receive(json.dumps(sent))
        if number == changed:
            break
    report = str(engine.failure)
    found = NAMED.search(report)
    assert found is not None, report
    received, kind, number, where, line = found.groups()
    assert (int(received), kind) == (changed, "conversation.item.create")
    assert (int(number), where) == (changed, str(path))  # in either order
    result = CliRunner().invoke(main, ["inspect", str(path), "--events"])
    assert result.exit_code == 0, result.output
    listed = [row for row in result.output.splitlines() if row.startswith("  client #")]
    assert len(listed) == len(recorded)
    assert re.match(rf"  client #{number} +line {line} +[\d.]+  {re.escape(kind)}$",
                    listed[changed - 1]), listed[changed - 1]
    assert _event_lines(path)[changed - 1][0] == int(line)


def _event_lines(path: Path) -> list[tuple[int, str]]:
    """The file's client event lines, with their numbers from 1."""
    return [(n, text) for n, text in enumerate(path.read_text().splitlines(), 1)
            if '"dir":"client"' in text]
