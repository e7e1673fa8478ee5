"""rtkit view's pages in a real browser: headless Chromium (Debian's, driven by Playwright)
loads the report of every shipped cassette and finds no console error and no request that
leaves the page; every audio element decodes and lasts what was recorded; the timeline's
bars are the cassette's events (counted, grouped and placed as recorded); hovering shows an
event's JSON; playing moves the playhead; and the barge-in is where it happened.

Skipped where Chromium is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import base64
import importlib.util
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rtkit.cli import main
from rtkit.view import write_view
from tests import processes

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = sorted((ROOT / "cassettes").glob("*/*.jsonl"))
_spec = importlib.util.spec_from_file_location("make_screenshot",
                                               ROOT / "docs" / "make_screenshot.py")
assert _spec is not None and _spec.loader is not None
screenshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(screenshot)

pytestmark = pytest.mark.skipif(
    screenshot.chromium_path() is None,
    reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with screenshot.launch() as context:
        yield context


@pytest.fixture(autouse=True)
def _the_browser_outlives_each_test() -> Iterator[None]:
    """Chromium starts processes of its own as pages need them (a renderer, the audio
    service); they belong to the module's browser, which stops them when it closes."""
    yield
    for pid, command in processes.descendants().items():
        if "chromium" in command or "playwright" in command:
            processes.outlives_the_test(pid)


class Tab:
    """One browser tab for the whole module (a new one costs more than a page load), and
    what the page it last loaded logged and asked for."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text)
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def load(self, path: Path) -> Any:
        self.errors.clear()
        self.requests.clear()
        self.page.goto(path.as_uri())
        return self.page


@pytest.fixture(scope="module")
def tab(browser: Any) -> Iterator[Tab]:
    page = browser.new_page()
    yield Tab(page)
    page.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    pages = {}
    for cassette in CASSETTES:
        name = f"{cassette.parent.name}-{cassette.stem}"
        write_view(cassette, out / f"{name}.html")
        pages[name] = out / f"{name}.html"
    return pages


# what the page's audio elements decode to: duration by the element, and samples decoded by
# the Web Audio API (at the recording's rate, so no resampling)
AUDIO = """async () => {
  const out = [];
  for (const a of document.querySelectorAll("audio")) {
    if (a.readyState < 1) {
      await new Promise((ok, bad) => { a.onloadedmetadata = ok; a.onerror = bad; });
    }
    const bytes = await (await fetch(a.src)).arrayBuffer();
    const decoded = await new OfflineAudioContext(1, 1, 24000).decodeAudioData(bytes);
    out.push({item: a.dataset.item, duration: a.duration, samples: decoded.length,
              rate: decoded.sampleRate, error: a.error ? a.error.code : null});
  }
  return out;
}"""

# every mark and bar of the timelines, with where the browser drew it
BARS = """() => [...document.querySelectorAll("svg.timeline")].flatMap(svg => {
  const left = svg.getBoundingClientRect().left;
  const scale = +svg.dataset.scale, origin = +svg.dataset.left;
  return [...svg.querySelectorAll("rect.mark, rect.bar")].map(r => ({
    kind: r.classList.contains("bar") ? "bar" : "mark", lane: r.dataset.lane,
    n: +r.dataset.n, t0: +r.dataset.t0, t1: +r.dataset.t1, key: r.dataset.key || null,
    x: r.getBoundingClientRect().left - left, width: r.getBoundingClientRect().width,
    expected_x: origin + +r.dataset.t0 * scale, types: r.dataset.types}));
})"""


def _events(cassette: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in cassette.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["kind"] in ("event", "frame")]


def _item_seconds(cassette: Path, tmp_path: Path) -> dict[str, float]:
    """Each item's audio as `rtkit audio` writes it: the recorded durations."""
    out = tmp_path / cassette.stem
    assert CliRunner().invoke(main, ["audio", str(cassette), "-o", str(out)]).exit_code == 0
    seconds = {}
    for path in out.glob("*.wav"):
        with wave.open(str(path)) as w:
            seconds[path.name.split("-")[2]] = w.getnframes() / w.getframerate()
    return seconds


@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_every_shipped_cassettes_page(cassette: Path, tab: Tab, reports: dict[str, Path],
                                      tmp_path: Path) -> None:
    page = tab.load(reports[f"{cassette.parent.name}-{cassette.stem}"])
    audio = page.evaluate(AUDIO)
    bars = page.evaluate(BARS)
    assert tab.errors == []
    assert tab.requests[0].startswith("file:") and all(
        url.startswith(("file:", "data:")) for url in tab.requests), tab.requests
    # each audio element plays, and lasts what was recorded
    expected = _item_seconds(cassette, tmp_path)
    events = _events(cassette)
    appended = sum(len(base64.b64decode(e["event"]["audio"])) // 2 for e in events
                   if e["kind"] == "event" and e["event"].get("type")
                   == "input_audio_buffer.append")
    if appended:
        expected["<input audio stream>"] = appended / 24000
    found = {a["item"]: a for a in audio}
    assert set(found) == set(expected)
    for item, seconds in expected.items():
        a = found[item]
        assert a["error"] is None and a["rate"] == 24000, a
        assert a["duration"] == pytest.approx(seconds, abs=1e-3), (item, a)
        assert a["samples"] == round(seconds * 24000), (item, a)
    _check_bars(events, bars)


def _check_bars(events: list[dict[str, Any]], bars: list[dict[str, Any]]) -> None:
    """The bars are the events: each lane's count, one bar per response's deltas holding
    exactly them from the first to the last, appends in input audio bars, and each drawn
    where its time is."""
    for lane in ("client", "server"):
        assert sum(b["n"] for b in bars if b["lane"] == lane) == \
            sum(1 for e in events if e["dir"] == lane), lane
    deltas: dict[str, list[float]] = {}
    for e in events:
        kind = e.get("event", {}).get("type", "")
        if e["dir"] == "server" and kind.endswith(".delta"):
            key = e["event"].get("response_id") or e["event"].get("item_id")
            deltas.setdefault(key, []).append(e["t"])
    streams = {b["key"]: b for b in bars if b["kind"] == "bar" and b["lane"] == "server"}
    assert set(streams) == set(deltas)
    for key, times in deltas.items():
        bar = streams[key]
        assert (bar["n"], bar["t0"], bar["t1"]) == (len(times), times[0], times[-1]), key
    appends = sum(1 for e in events if e.get("event", {}).get("type")
                  == "input_audio_buffer.append")
    assert sum(b["n"] for b in bars if b["kind"] == "bar" and b["lane"] == "client") == appends
    for b in bars:  # a mark is centred on its time, a bar starts at it
        offset = -1.5 if b["kind"] == "mark" else 0.0
        assert b["x"] == pytest.approx(b["expected_x"] + offset, abs=0.6), b
        assert b["width"] >= 2.9


def test_hover_shows_the_json_and_playing_moves_the_playhead(tab: Tab,
                                                             reports: dict[str, Path]) -> None:
    page = tab.load(reports["ga-vad_barge_in"])
    page.hover("svg.timeline rect.bar[data-key^='resp_']")
    hover = page.locator("#hover")
    assert hover.is_visible()
    text = hover.inner_text()
    assert '"type": "response.output_audio_transcript.delta"' in text
    assert "resp_zKxCa5h35GfPHkEAxgQjK" in text
    # the answer that was cut: 50 ms into it, the playhead is 50 ms after its start
    item = "item_u0vqoUCjXsUGgUr6REtsN"
    x = page.evaluate("""(item) => new Promise(done => {
      const a = document.querySelector(`audio[data-item="${item}"]`);
      a.addEventListener("seeked", () => {
        const line = document.getElementById(a.dataset.lanes).querySelector("line.playhead");
        done([+line.getAttribute("x1"), line.style.display]);
      }, {once: true});
      a.currentTime = 0.05;
    })""", item)
    svg = page.locator("svg.audio")
    scale, left = float(svg.get_attribute("data-scale")), float(svg.get_attribute("data-left"))
    clip = page.locator(f"svg.audio rect.clip[data-item='{item}']")
    start = float(clip.get_attribute("data-axis-ms"))
    assert x[0] == pytest.approx(left + (start + 50) * scale, abs=0.01)
    assert x[1] == ""  # shown
    assert tab.errors == []


def test_the_barge_in_is_visible_on_the_two_waveforms(tab: Tab,
                                                      reports: dict[str, Path]) -> None:
    """As drawn: the assistant's cut answer lies under the user's second utterance, its
    waveform stops at the truncation mark, and the user's waveform goes on past it."""
    page = tab.load(reports["ga-vad_barge_in"])

    def box(selector: str) -> dict[str, float]:
        found = page.locator(selector).bounding_box()
        assert found is not None, selector
        return found

    cut = box("svg.audio path.wave.assistant[data-item='item_u0vqoUCjXsUGgUr6REtsN']")
    speech = box("svg.audio rect.clip[data-item='item_i6cJJk5gLMwE1YP8hbmcR']")
    mark = box("svg.audio line.truncation")
    assert speech["x"] <= cut["x"] and cut["x"] + cut["width"] <= speech["x"] + \
        speech["width"]
    assert mark["x"] == pytest.approx(cut["x"] + cut["width"], abs=1.5)
    user = [box(f"svg.audio path.wave.user >> nth={k}")
            for k in range(page.locator("svg.audio path.wave.user").count())]
    assert any(u["x"] < cut["x"] and u["x"] + u["width"] > mark["x"] + 20 for u in user)
    assert page.locator("svg.audio line.vad").count() == 4


def test_the_screenshot_script_draws_the_page(browser: Any, tmp_path: Path) -> None:
    png = tmp_path / "view.png"
    assert screenshot.shoot(browser, png) == []
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 900  # the whole page, taller than the window
