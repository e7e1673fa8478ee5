"""README.md stays true: every Python block marked `<!-- readme-test: run -->` runs as shown
(from the repository root) and prints exactly the `text` block that follows it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"<!-- readme-test: run -->\s*```python\n(?P<code>.*?)```\s*```text\n(?P<out>.*?)```", re.S
)


def _examples() -> list[tuple[str, str]]:
    return [(m["code"], m["out"]) for m in BLOCK.finditer((ROOT / "README.md").read_text())]


def test_the_readme_has_runnable_examples() -> None:
    assert len(_examples()) >= 1


@pytest.mark.parametrize(("code", "expected"), _examples())
def test_readme_example_prints_what_the_readme_says(code: str, expected: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
