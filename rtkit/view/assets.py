"""The report page's own style sheet and script (inlined: the page loads nothing)."""

from __future__ import annotations

__all__ = ["CSS", "JS"]

CSS = """
:root { --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --bg: #fff; --soft: #f5f7fa;
  --client: #2f6fdb; --server: #7a4fd6; --user: #1f9d6b; --assistant: #d9822b;
  --error: #d92d20; --cut: #e04f16; --hl: #f04438; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1280px; }
pre { white-space: pre-wrap; word-break: break-word; font: 12px/1.4 ui-monospace, monospace; }
h1 { font-size: 20px; margin: 4px 0; word-break: break-all; }
h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
h2 small, .meta { color: var(--muted); font-weight: normal; font-size: 13px; }
h3 { font-size: 14px; margin: 16px 0 4px; color: #344054; }
h3.side { font-size: 15px; margin-top: 24px; color: var(--fg); border-top: 1px dashed var(--line);
  padding-top: 8px; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px;
  background: var(--soft); }
svg { display: block; font: 11px system-ui, sans-serif; }
svg text { fill: #475467; }
svg .axis line { stroke: #d0d5dd; }
svg .lane-label { fill: #344054; font-weight: 600; }
svg rect.mark, svg rect.bar { cursor: pointer; }
svg rect.mark { fill: #98a2b3; }
svg rect.mark.session { fill: #667085; } svg rect.mark.input { fill: var(--user); }
svg rect.mark.item { fill: #9e77ed; } svg rect.mark.response { fill: var(--server); }
svg rect.mark.error { fill: var(--error); } svg rect.mark.cut { fill: var(--cut); }
svg rect.bar { fill: #b2ccff; stroke: #84adff; }
svg rect.bar.audio-in { fill: #a6f4c5; stroke: #6ce9a6; }
svg rect.bar.audio-out { fill: #fedf89; stroke: #fec84b; }
svg rect.bar.more { fill: #eaecf0; stroke: #98a2b3; }
svg .hl { stroke: var(--hl) !important; stroke-width: 3px !important; }
svg text.bar-label { fill: #1d2939; pointer-events: none; }
svg path.wave.user { fill: var(--user); } svg path.wave.assistant { fill: var(--assistant); }
svg path.wave.cut { fill: #d0d5dd; }
svg rect.clip { fill: none; stroke: none; cursor: pointer; }
svg rect.clip:hover { stroke: #98a2b3; stroke-dasharray: 3 2; }
svg line.vad { stroke: var(--user); stroke-width: 1.5px; stroke-dasharray: 4 3; }
svg line.truncation { stroke: var(--cut); stroke-width: 2px; }
svg text.truncation { fill: var(--cut); font-weight: 600; }
svg line.range { stroke: var(--user); stroke-width: 3px; }
svg line.playhead { stroke: var(--hl); stroke-width: 2px; }
.figures { border-collapse: collapse; margin: 4px 0; }
.figures th, .figures td { border: 1px solid var(--line); padding: 2px 8px; text-align: right; }
.figures th { background: var(--soft); font-weight: 600; }
.figures td:first-child, .figures th:first-child { text-align: left;
  font-family: ui-monospace, monospace; font-size: 12px; }
ol.conversation { list-style: none; padding: 0; margin: 0; }
ol.conversation li { padding: 6px 8px; border-bottom: 1px solid #eaecf0; display: flex; gap: 10px;
  align-items: baseline; flex-wrap: wrap; }
.t { color: var(--muted); font-variant-numeric: tabular-nums; min-width: 56px; font-size: 12px; }
.who { font-weight: 600; min-width: 72px; }
.who.user { color: var(--user); } .who.assistant { color: var(--assistant); }
.who.tool { color: var(--server); } .who.system { color: var(--muted); }
.said { white-space: pre-wrap; }
li.note { color: var(--cut); font-size: 13px; } li.note.error { color: var(--error); }
.status { font-size: 12px; color: var(--cut); font-weight: 600; }
.call { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap;
  background: var(--soft); padding: 2px 6px; border-radius: 4px; }
audio { height: 30px; vertical-align: middle; }
.noaudio { color: var(--muted); font-size: 12px; }
.pair { width: 100%; border-collapse: collapse; table-layout: fixed; }
.pair > tbody > tr > td, .pair > thead > tr > th { vertical-align: top;
  border: 1px solid var(--line); padding: 0; }
.pair > thead > tr > th { background: var(--soft); padding: 4px 8px; text-align: left; }
.pair td.changed, .pair td.removed, .pair td.added { background: #fff4ed; }
.pair td.empty { background: repeating-linear-gradient(45deg, #fafafa, #fafafa 6px, #f2f4f7 6px,
  #f2f4f7 12px); }
.pair ol.conversation li { border: 0; }
.changes { font-size: 12px; color: var(--cut); padding: 0 8px 6px; }
.failure { border: 2px solid var(--hl); border-radius: 6px; padding: 8px 12px;
  background: #fef3f2; }
.failure pre, pre.json { white-space: pre-wrap; word-break: break-word;
  font: 12px/1.4 ui-monospace, monospace; margin: 4px 0; }
.failure .events { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.failure .events pre { background: #fff; border: 1px solid var(--line); padding: 6px;
  max-height: 360px; overflow: auto; }
p.hint { color: var(--muted); font-size: 12px; margin: 4px 0; }
#hover { position: fixed; z-index: 10; max-width: 560px; max-height: 70vh; overflow: auto;
  margin: 0;
  background: #101828; color: #f2f4f7; font: 12px/1.4 ui-monospace, monospace; padding: 8px 10px;
  border-radius: 6px; box-shadow: 0 4px 16px rgba(0,0,0,.25); white-space: pre-wrap; }
#hover[hidden] { display: none; }
"""

JS = """
(function () {
  "use strict";
  var previews = {};
  document.querySelectorAll("script.rt-previews").forEach(function (block) {
    var first = +block.getAttribute("data-first");
    JSON.parse(block.textContent).forEach(function (text, k) { previews[first + k] = text; });
  });
  var hover = document.getElementById("hover");
  var pinned = false;
  var NOT_KEPT = "(not kept: the report's preview budget is spent)";
  function show(el, ev) {
    var parts = [el.getAttribute("data-title") || ""];
    (el.getAttribute("data-i") || "").split(" ").forEach(function (i) {
      if (i !== "") { parts.push(+i >= 0 ? previews[+i] : NOT_KEPT); }
    });
    hover.textContent = parts.join("\\n\\n");
    hover.hidden = false;
    place(ev);
  }
  function place(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = hover.offsetWidth, h = hover.offsetHeight;
    if (x + w > window.innerWidth - 8) { x = Math.max(8, ev.clientX - w - 14); }
    if (y + h > window.innerHeight - 8) { y = Math.max(8, window.innerHeight - h - 8); }
    hover.style.left = x + "px"; hover.style.top = y + "px";
  }
  document.addEventListener("mouseover", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-i]") : null;
    if (el && !pinned) { show(el, ev); }
  });
  document.addEventListener("mousemove", function (ev) { if (!hover.hidden && !pinned) {
    place(ev); } });
  document.addEventListener("mouseout", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-i]") : null;
    if (el && !pinned) { hover.hidden = true; }
  });
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-i]") : null;
    if (el) { pinned = false; show(el, ev); pinned = true; return; }
    var clip = ev.target.closest ? ev.target.closest("rect.clip") : null;
    if (clip) { play(clip); return; }
    if (!hover.contains(ev.target)) { pinned = false; hover.hidden = true; }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { pinned = false; hover.hidden = true; }
  });
  function play(clip) {
    var svg = clip.closest("svg");
    var audio = document.querySelector("audio[data-lanes='" + svg.id + "'][data-item='" +
      clip.getAttribute("data-item") + "']");
    if (audio) { audio.currentTime = 0; audio.play(); }
  }
  function playhead(audio) {
    var svg = document.getElementById(audio.getAttribute("data-lanes"));
    if (!svg) { return; }
    var line = svg.querySelector("line.playhead");
    var scale = +svg.getAttribute("data-scale"), left = +svg.getAttribute("data-left");
    var x = left + (+audio.getAttribute("data-axis-ms") + audio.currentTime * 1000) * scale;
    line.setAttribute("x1", x); line.setAttribute("x2", x);
    line.style.display = audio.paused && audio.currentTime === 0 ? "none" : "";
  }
  document.querySelectorAll("audio[data-lanes]").forEach(function (audio) {
    ["timeupdate", "play", "seeked", "ended"].forEach(function (name) {
      audio.addEventListener(name, function () { playhead(audio); });
    });
  });
})();
"""
