"""Record modes, as in vcrpy and pytest-recording; an *episode* is one WebSocket connection.

| mode           | cassette exists                                  | cassette missing          |
|----------------|--------------------------------------------------|---------------------------|
| `none`         | replay; anything new is an error                 | error: says how to record |
| `once`         | replay; anything new is an error                 | record                    |
| `new_episodes` | replay recorded episodes, record and append new  | record                    |
| `all`          | record every connection, keep the old episodes   | record                    |
| `rewrite`      | record afresh; the new cassette replaces the old | record                    |

Precedence when several places name a mode: command line, then marker, then config fixture.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from rtkit.errors import CassetteError

__all__ = [
    "RECORD_MODES",
    "MissingCassetteError",
    "RecordMode",
    "RecordPlan",
    "plan",
    "resolve_record_mode",
    "vcr_record_mode",
]


class RecordMode(str, enum.Enum):  # noqa: UP042 (StrEnum changes str() in messages)
    """What to do with live traffic and with the cassette."""

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"
    REWRITE = "rewrite"

    def __str__(self) -> str:
        return self.value

    @property
    def may_record(self) -> bool:
        """True when this mode can open a live connection."""
        return self is not RecordMode.NONE


RECORD_MODES: tuple[str, ...] = tuple(m.value for m in RecordMode)


class MissingCassetteError(CassetteError):
    """Replay-only mode and the cassette does not exist."""


def resolve_record_mode(
    cli: str | RecordMode | None = None,
    marker: str | RecordMode | None = None,
    config: str | RecordMode | None = None,
) -> RecordMode:
    """The effective mode: `cli` over `marker` over `config`, default `none`."""
    for source, value in (("command line", cli), ("marker", marker), ("config", config)):
        if value is None or value == "":
            continue
        try:
            return RecordMode(value)
        except ValueError:
            choices = ", ".join(RECORD_MODES)
            raise ValueError(
                f"invalid record mode {value!r} from the {source}; choose one of {choices}"
            ) from None
    return RecordMode.NONE


@dataclass(frozen=True)
class RecordPlan:
    """What one test does with its cassette, decided before it runs.

    `replay`: serve the recorded episodes. `record`: open live connections for new ones.
    `keep_existing`: recorded episodes stay in the file when new ones are written.
    `delete_first`: the recorded episodes are dropped (rewrite); nothing is deleted before
    the test: the new cassette replaces the old one when it is complete.
    """

    mode: RecordMode
    replay: bool
    record: bool
    keep_existing: bool = False
    delete_first: bool = False

    @property
    def replay_only(self) -> bool:
        """True when no live connection may be opened."""
        return self.replay and not self.record

    @property
    def hybrid(self) -> bool:
        """True when recorded episodes are replayed and new connections recorded."""
        return self.replay and self.record


def plan(
    mode: RecordMode | str, cassette_exists: bool, cassette_path: str = "", test_id: str = "",
    fake_script: Callable[[], str | None] | None = None,
) -> RecordPlan:
    """Decide replay / record for `mode` given whether the cassette exists.

    Raises `MissingCassetteError` in `none` mode when the cassette is missing, saying how to
    record it (the command names `test_id`, a pytest node id, when given, and the fake's
    script `fake_script()` finds, if any).
    """
    mode = RecordMode(mode)
    if mode is RecordMode.NONE:
        if not cassette_exists:
            script = fake_script() if fake_script is not None else None
            raise MissingCassetteError(missing_cassette_message(cassette_path, test_id,
                                                                fake_script=script))
        return RecordPlan(mode, replay=True, record=False)
    if mode is RecordMode.ONCE:
        if cassette_exists:
            return RecordPlan(mode, replay=True, record=False)
        return RecordPlan(mode, replay=False, record=True)
    if mode is RecordMode.NEW_EPISODES:
        return RecordPlan(mode, replay=cassette_exists, record=True, keep_existing=cassette_exists)
    if mode is RecordMode.ALL:
        return RecordPlan(mode, replay=False, record=True, keep_existing=cassette_exists)
    return RecordPlan(mode, replay=False, record=True, delete_first=cassette_exists)


def missing_cassette_message(cassette_path: str, test_id: str = "", *, how: str | None = None,
                             fake_script: str | None = None) -> str:
    """The error text for a missing cassette in `none` mode (`test_id`: the pytest node id;
    `how`: how to run the code in a record mode, when it is not a pytest test; `fake_script`:
    the fake's script the cassettes beside it were recorded from, if any)."""
    where = f" {cassette_path}" if cassette_path else ""
    if how is None:
        target = shlex.quote(test_id) if test_id else "<this test>"
        how = f"run this test once in a record mode:\n    pytest --rt-record-mode=once {target}"
        marker = " (or mark it @pytest.mark.rtkit(record_mode='once'))"
    else:
        marker = ""
    script = shlex.quote(fake_script) if fake_script else "replies.yaml"
    return (
        f"rtkit: no cassette at{where} and record mode is 'none' (replay only).\n"
        f"To record it, {how}\n"
        f"with no key against a local fake (start `rtkit fake --script {script}` and set "
        "RTKIT_UPSTREAM_URL to the URL it prints), or against the live API with OPENAI_API_KEY "
        f"set{marker}. Commit the cassette; later runs replay it without a key."
    )


def vcr_record_mode(mode: RecordMode | str) -> str:
    """The vcrpy mode for the HTTP side (vcrpy has no `rewrite`: the caller starts it empty)."""
    mode = RecordMode(mode)
    return RecordMode.NEW_EPISODES.value if mode is RecordMode.REWRITE else mode.value
