"""`rtkit view` as a user runs it: one page that loads nothing, each item's audio in it (the
same samples `rtkit audio` writes), WAV files beside it on request, an inline limit, one
episode, `--open`, clean errors; and memory that does not grow with the cassette."""

from __future__ import annotations

import base64
import importlib.util
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from rtkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
BARGE_IN = ROOT / "cassettes" / "ga" / "vad_barge_in.jsonl"
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"


def rtkit(*args: str, cwd: Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from rtkit.cli import main; main()", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


class _Page(HTMLParser):
    """Every URL a page would load, and its audio elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.audio: list[dict[str, str | None]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        for name in ("src", "href", "data", "poster", "srcset"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "audio":
            self.audio.append(found)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def wav_of(src: str) -> bytes:
    assert src.startswith("data:audio/wav;base64,")
    return base64.b64decode(src.split(",", 1)[1], validate=True)


def test_one_page_that_loads_nothing_with_every_items_audio(tmp_path: Path) -> None:
    done = rtkit("view", str(BARGE_IN), "-o", "barge_in.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote barge_in.html (1 episode(s), 5 audio clip(s) inline)\n"
    page = parse(tmp_path / "barge_in.html")
    assert page.urls and all(url.startswith("data:audio/wav;base64,") for url in page.urls)
    assert "link" not in page.tags and "img" not in page.tags and "iframe" not in page.tags
    # the same samples rtkit audio writes, item by item (and the input as sent)
    assert cli("audio", str(BARGE_IN), "-o", str(tmp_path / "wav"))[0] == 0
    written = {p.name.split("-")[2]: p.read_bytes() for p in (tmp_path / "wav").glob("*.wav")}
    inline = {str(a["data-item"]): wav_of(str(a["src"])) for a in page.audio}
    assert set(inline) == {*written, "<input audio stream>"}
    for item, wav in written.items():
        assert inline[item] == wav, item
    assert len(inline["<input audio stream>"]) == 44 + 1900 * 48  # 1.9 s of input, as sent


def test_audio_files_beside_the_page_and_the_inline_limit(tmp_path: Path) -> None:
    code, out = cli("view", str(BARGE_IN), "-o", str(tmp_path / "r.html"), "--audio-files")
    assert (code, out) == (0, f"wrote {tmp_path / 'r.html'} (1 episode(s), 5 audio clip(s) "
                              f"in {tmp_path / 'r_audio'})\n")
    page = parse(tmp_path / "r.html")
    assert sorted(page.urls) == sorted(f"r_audio/{p.name}" for p in
                                       (tmp_path / "r_audio").iterdir())
    assert "r_audio/ep0-input-as-sent.wav" in page.urls
    # 70 kB of WAV, spent in page order: not the 1.90 s of input as sent (91 kB), then the
    # first question (0.80 s, 38 kB) and the cut answer (0.10 s), not what follows
    code, out = cli("view", str(BARGE_IN), "-o", str(tmp_path / "small.html"),
                    "--inline-limit", "0.07")
    assert code == 0
    assert out.endswith("(1 episode(s), 2 audio clip(s) inline, 3 over the 0.07 MB inline "
                        "limit (--audio-files writes them beside the page))\n"), out
    inline = [(a["data-item"], a["data-ms"]) for a in parse(tmp_path / "small.html").audio]
    assert inline == [("item_PdfvXRl9Zg8JtAnsfw6e1", "800"), ("item_u0vqoUCjXsUGgUr6REtsN", "100")]
    text = (tmp_path / "small.html").read_text()
    assert "1.90 s of audio not inlined: over the report's inline limit" in text


def _two_episodes(tmp_path: Path) -> Path:
    lines = TEXT_TURN.read_text().splitlines()
    second = [line.replace('"conn":0', '"conn":1', 1) for line in lines[1:]]
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join([*lines, *second]) + "\n")
    return path


def test_one_episode_and_a_missing_one(tmp_path: Path) -> None:
    path = _two_episodes(tmp_path)
    out = tmp_path / "two.html"
    assert cli("view", str(path), "-o", str(out))[1].startswith(f"wrote {out} (2 episode(s)")
    assert cli("view", str(path), "-o", str(out), "--episode", "1")[0] == 0
    text = out.read_text()
    assert 'id="ep1"' in text and 'id="ep0"' not in text
    code, said = cli("view", str(path), "-o", str(out), "--episode", "7")
    assert (code, said) == (2, f"rtkit: error: {path} has no episode 7\n")
    assert out.read_text() == text  # the page that was there is untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left over


def test_default_name_open_and_errors(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    done = rtkit("view", str(TEXT_TURN), "--open", cwd=tmp_path,
                 env={"BROWSER": f"{browser} %s"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote text_turn.html (1 episode(s), 0 audio clip(s) inline)\n"
    assert opened.read_text().strip() == (tmp_path / "text_turn.html").resolve().as_uri()
    assert cli("view", str(tmp_path / "nope.jsonl")) == (
        2, f"rtkit: error: {tmp_path / 'nope.jsonl'}: no such file\n")
    (tmp_path / "ro").mkdir(mode=0o500)
    if not os.access(tmp_path / "ro", os.W_OK):  # root may write anywhere
        code, said = cli("view", str(TEXT_TURN), "-o", str(tmp_path / "ro" / "x.html"))
        assert code == 2 and said.startswith(f"rtkit: error: {tmp_path / 'ro' / 'x.html'}: "
                                             "cannot write: "), said
    code, said = cli("view", str(TEXT_TURN), "-o", str(tmp_path))
    assert (code, said) == (2, f"rtkit: error: {tmp_path}: is a directory; give the HTML "
                               "file's name\n")


def _benchmark(name: str):  # a module of benchmarks/, for its helpers
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_does_not_grow_with_the_cassette(tmp_path: Path) -> None:
    """A 13 times larger cassette of voice sessions (32 MB more, 22 MB of it audio) costs
    `rtkit view` no more memory: the audio is spooled on disk, the page written in pieces.
    (Peak RSS by resource.getrusage of the child, as benchmarks/view_memory.py measures.)"""
    make = _benchmark("tools_memory").make_cassette
    peak_rss = _benchmark("view_memory").peak_rss
    small = make(tmp_path / "small.jsonl", 1_000_000, turns=2)
    large = make(tmp_path / "large.jsonl", 33_000_000, turns=2)
    assert large > 10 * small
    rss = [peak_rss(["view", name, "-o", name + ".html"], tmp_path)[0]
           for name in ("small.jsonl", "large.jsonl")]
    assert 20 < rss[0] < 100 and rss[1] - rss[0] < 8, rss
    # past the inline limit (8 MB of WAV) the large page lists clips instead of holding them
    assert "audio not inlined" in (tmp_path / "large.jsonl.html").read_text()
    assert "audio not inlined" not in (tmp_path / "small.jsonl.html").read_text()
    # generated by the test, not recorded: not for the end-of-run secret scan
    for name in ("small.jsonl", "large.jsonl"):
        (tmp_path / name).unlink()
