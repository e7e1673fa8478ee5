"""docs/fake.md stays true: its Python examples run and print what the page shows, its pytest
example passes, and the example script it prints is the shipped docs/examples/replies.yaml."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "fake.md").read_text()
RUN = re.compile(r"```python\n(?P<code>.*?)```\s*```text\n(?P<out>.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    return [(m["code"], m["out"]) for m in RUN.finditer(PAGE)]


def test_the_page_has_examples() -> None:
    assert len(_examples()) == 2
    assert (ROOT / "docs/examples/replies.yaml").read_text() in PAGE


@pytest.mark.parametrize(("code", "expected"), _examples())
async def test_an_example_prints_what_the_page_says(
        code: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    def run() -> None:
        exec(compile(code, "docs/fake.md", "exec"), {"__name__": "__main__"})

    await asyncio.wait_for(asyncio.to_thread(run), 30)  # the example runs its own event loop
    assert capsys.readouterr().out == expected


def test_the_pytest_example_passes(pytester: pytest.Pytester) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE, re.S)
    (example,) = [b for b in blocks if "def test_" in b]
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_greets=example)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
