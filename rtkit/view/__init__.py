"""`rtkit view`: a session as one self-contained HTML page, to see and hear it.

Per episode: the timeline (client and server lanes on the recorded time axis, a response's
deltas as one bar, each event's JSON on hover), the audio (input and output on one audio time
axis, waveforms drawn from the samples, VAD marks, truncations), the conversation (items,
tool calls, truncations, cancellations, errors, each item's audio playable) and figures (time
to first audio and text, durations, tokens). `write_pair` puts two recordings side by side
(`rtkit diff --html`, and the pytest plugin's report of a failed replayed test).

The page loads nothing: style, script and drawings are inline, and audio is inlined as WAV
data URIs up to a size limit, or written as WAV files beside the page. A cassette is read in
one streaming pass; memory does not grow with its audio.
"""

from rtkit.view.render import Failure
from rtkit.view.report import DEFAULT_INLINE_LIMIT, Report, SideSource, write_pair, write_view

__all__ = ["DEFAULT_INLINE_LIMIT", "Failure", "Report", "SideSource", "write_pair", "write_view"]
