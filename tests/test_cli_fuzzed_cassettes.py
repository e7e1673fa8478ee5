"""Fuzzed cassettes (issue 21): mutations of the shipped cassettes never give a traceback in
`rtkit inspect`, `inspect --json`, `diff`, `audio`, `validate` or `scrub --check` (the last
on the smaller cassettes: its token catalogue is the slow part, not its reading). A cassette
that cannot be read is answered `rtkit: error: FILE:LINE[:COL]: ...` with exit status 2 (the
column when the problem is at one place of the line); one that can is shown. Among the
mutations, the two that broke them: control bytes inside base64 audio (`ValueError: string
argument should contain only ASCII characters`) and an escaped lone surrogate in a text
(`UnicodeEncodeError ... surrogates not allowed`)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "cassettes").glob("*/*.jsonl"))
ERROR = re.compile(r"^rtkit: error: .+?:\d+(:\d+)?: ", re.MULTILINE)


def _mutations(text: str, rng: random.Random) -> list[str]:
    lines = text.splitlines(keepends=True)
    out = []
    audio = [i for i, line in enumerate(lines)
             if ('"delta":"' in line and "audio" in line) or '"audio":"' in line]
    for i in audio[:2]:
        for bad in ("\\u0001", "\\u0000", "\\u00e9", "\\n", "\\ud800"):
            mutated = list(lines)
            mutated[i] = re.sub(r'("(?:delta|audio)":")([A-Za-z0-9+/]{8})',
                                lambda m, bad=bad: m.group(1) + m.group(2) + bad, mutated[i],
                                count=1)
            out.append("".join(mutated))
    texts = [i for i, line in enumerate(lines) if '"text":"' in line or '"transcript":"' in
             line or '"delta":"' in line]
    for i in texts[:3]:
        for bad in ("\\ud800", "\\udfff", "\\ud83d", "\\u0000"):
            mutated = list(lines)
            mutated[i] = re.sub(r'("(?:text|transcript|delta)":")',
                                lambda m, bad=bad: m.group(1) + bad, mutated[i], count=1)
            out.append("".join(mutated))
    data = text.encode()
    for _ in range(12):  # byte flips and cuts
        pos = rng.randrange(len(data))
        if rng.random() < 0.5:
            out.append((data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:])
                       .decode("utf-8", "surrogateescape"))
        else:
            out.append(data[:pos].decode("utf-8", "ignore"))
    return out


def _check(result: object, path: Path) -> None:
    exc = getattr(result, "exception", None)
    output = getattr(result, "output", "")
    code = getattr(result, "exit_code", None)
    assert exc is None or isinstance(exc, SystemExit), (path.read_bytes()[:0], output, exc)
    assert code in (0, 1, 2), output
    if code == 2:
        assert ERROR.search(output), output


@pytest.mark.parametrize("shipped", SHIPPED, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_mutated_cassettes_get_an_error_never_a_traceback(shipped: Path, tmp_path: Path
                                                          ) -> None:
    rng = random.Random(shipped.name)
    runner = CliRunner()
    original = shipped.read_text()
    for n, text in enumerate(_mutations(original, rng)):
        path = tmp_path / f"m{n}.jsonl"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        for args in (["inspect", str(path)], ["inspect", "--json", str(path)],
                     ["diff", str(shipped), str(path)],
                     ["audio", str(path), "-o", str(tmp_path / f"wav{n}")],
                     ["validate", str(path)],
                     *([["scrub", "--check", str(path)]] if len(original) < 50_000 else [])):
            _check(runner.invoke(main, args), path)
        path.unlink()  # an input, not a recording: the end-of-run secret scan need not read it
