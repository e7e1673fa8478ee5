"""RealtimeConversation: the conversation state machine of the reference client, sans-I/O.

It takes server events (dicts, either dialect) and keeps the conversation's items and responses;
:meth:`RealtimeConversation.process_event` returns ``(item, delta)`` like the seed's
``processEvent``. No sockets, no asyncio: feed it events, read the state.

Items are the server's item dicts (copied, never the caller's objects) plus a ``"formatted"``
dict: ``audio`` (int16 samples), ``text``, ``transcript``, and ``tool`` (function calls) or
``output`` (function call outputs). ``delta`` is ``None`` or a dict with exactly one of
``audio`` (the new samples), ``transcript``, ``text`` or ``arguments``.

Differences from the seed (each tested in ``tests/test_conversation.py``):

- Both dialects: beta names are mapped to GA ones with
  :func:`rtkit.protocol.events.canonical_server_type`; GA's ``conversation.item.done`` updates
  the item's status (and creates the item if it was never announced).
- An event naming an unknown item or response raises :class:`rtkit.errors.ConversationError`
  (message: event type and id) and leaves the state unchanged (SEED fix 3).
- An input transcription (delta or completed) that arrives before its item is kept and applied
  when the item appears (SEED fix 2).
- Output audio is appended in amortised O(1) time into one :class:`rtkit.audio.AudioBuffer` per
  item; ``formatted["audio"]`` is a read-only view of it (SEED fix 11).
- ``previous_item_id`` orders items when it names a known item; otherwise (``null``, missing,
  unknown) the item goes last, as in the seed (SEED fix 12).
- ``response.done`` updates the stored response (status, status_details, usage, ...) (fix 12).
- Audio is decoded in the session's formats (:attr:`RealtimeConversation.input_format` /
  :attr:`~RealtimeConversation.output_format`): G.711 μ-law / A-law at 8 kHz as well as PCM16;
  samples and ``audio_*_ms`` count at the format's own rate. Audio that is not base64 is a
  :class:`~rtkit.errors.ConversationError` and changes nothing.
- Out-of-band responses (``conversation_id`` null: ``response.create`` with
  ``conversation: "none"``): their items are kept apart, by id and through
  :meth:`~RealtimeConversation.get_response_items`, never in :meth:`get_items`.
- ``input_audio_buffer.timeout_triggered``'s segment (server VAD's idle timeout) gives the
  committed item its audio, as a speech segment does.
- Item status follows the seed (user messages and function call outputs ``completed``, others
  ``in_progress`` until ``response.output_item.done``), except that an item the server announces
  already ``completed`` / ``incomplete`` keeps that status. A function call that ends
  ``incomplete`` keeps that status, so the client can skip its handler (SEED fix 7).
- Input audio bound to the committing item: in manual mode :meth:`commit_input_audio` queues the
  buffered audio; ``input_audio_buffer.committed`` binds it to that item id, and the next user
  message that carries audio gets it (the seed gave it to the next user message of any kind).

Input audio memory rule (SEED fix 11): input samples are kept with an absolute offset (sample 0
is the first sample appended this session; ``audio_start_ms`` / ``audio_end_ms`` of the speech
events count from there). In manual mode all audio since the last commit is kept (the commit
hands it over and drops it). In server-VAD mode the conversation keeps only samples from
``min(start of the open speech segment, newest sample - vad_retain_ms)`` on: a future segment
starts after the current end minus ``prefix_padding_ms`` and the network delay before
``speech_started`` arrives, both far below the default 10 s window. A segment reaching further
back than the kept audio gets the part still kept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from rtkit.audio import PCM16, SAMPLE_RATE, AudioBuffer, AudioFormat, decode_base64
from rtkit.errors import ConversationError
from rtkit.protocol.events import BETA_TO_GA_SERVER_EVENTS, canonical_server_type

__all__ = ["Delta", "Item", "RealtimeConversation"]

Item = dict[str, Any]
"""A conversation item: the server's item fields plus ``"formatted"``."""

Delta = dict[str, Any]
"""What an event added: exactly one of ``audio``, ``transcript``, ``text``, ``arguments``."""

_EMPTY_AUDIO = np.zeros(0, dtype=np.int16)
_EMPTY_AUDIO.flags.writeable = False
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_AUDIO_PART_TYPES = frozenset({"audio", "input_audio", "output_audio"})
_FINAL_STATUSES = frozenset({"completed", "incomplete"})
# MCP items carry no status: the conversation gives them one (in_progress until done)
_MCP_RUNNING_TYPES = frozenset({"mcp_list_tools", "mcp_call", "mcp_approval_request"})
_MCP_STATUS = {"in_progress": "in_progress", "completed": "completed", "failed": "incomplete"}


class _InputAudio:
    """Input audio with absolute sample offsets; the front is dropped when no longer needed."""

    __slots__ = ("buf", "commit_at", "offset")

    def __init__(self) -> None:
        self.buf = AudioBuffer()
        self.offset = 0  # absolute index of buf[0]
        self.commit_at = 0  # absolute index where the uncommitted audio starts

    @property
    def end(self) -> int:
        return self.offset + len(self.buf)

    def slice(self, start: int, end: int) -> np.ndarray:
        view = self.buf.view()
        lo = min(max(start - self.offset, 0), len(view))
        hi = min(max(end - self.offset, lo), len(view))
        return view[lo:hi].copy()

    def drop_before(self, absolute: int) -> None:
        """Forget samples before ``absolute``; compacts only when that halves the buffer."""
        n = absolute - self.offset
        if n <= 0:
            return
        if n >= len(self.buf):
            self.offset = absolute
            self.buf = AudioBuffer()
            return
        if n * 2 < len(self.buf):
            return  # amortised: compact when at least half the buffer goes
        rest = self.buf.view()[n:]
        self.buf = AudioBuffer(rest, capacity=2 * len(rest))
        self.offset = absolute


class RealtimeConversation:
    """Conversation state of a Realtime session, built from server events of either dialect.

    ``server_vad``: ``True`` for server-VAD turn detection, ``False`` for manual mode, ``None``
    (default) to infer it (VAD once a ``speech_started`` / ``speech_stopped`` event is seen).
    The client should set :attr:`server_vad` when the session's turn detection changes.
    ``vad_retain_ms``: how much recent input audio server-VAD mode keeps outside open speech.
    ``input_format`` / ``output_format``: the session's audio formats (default PCM16 24 kHz;
    the client sets them from the session); ``sample_rate`` makes both PCM16 at that rate.
    """

    default_frequency = SAMPLE_RATE

    def __init__(
        self,
        *,
        server_vad: bool | None = None,
        vad_retain_ms: int = 10_000,
        sample_rate: int = SAMPLE_RATE,
        input_format: AudioFormat | None = None,
        output_format: AudioFormat | None = None,
    ) -> None:
        self.server_vad: bool | None = server_vad
        self.vad_retain_ms = vad_retain_ms
        pcm = PCM16 if sample_rate == SAMPLE_RATE else AudioFormat("pcm16", sample_rate, 2)
        self.input_format: AudioFormat = input_format or pcm
        """The format of input audio (what ``append_input_audio`` samples and the speech
        events' ``audio_*_ms`` count in)."""
        self.output_format: AudioFormat = output_format or pcm
        """The format of output audio (how audio deltas decode, and truncation counts)."""
        self._handlers = {
            "conversation.item.added": self._item_added,
            "conversation.item.done": self._item_done,
            "conversation.item.truncated": self._item_truncated,
            "conversation.item.deleted": self._item_deleted,
            "conversation.item.input_audio_transcription.delta": self._input_transcript_delta,
            "conversation.item.input_audio_transcription.completed": self._input_transcript_done,
            "input_audio_buffer.speech_started": self._speech_started,
            "input_audio_buffer.speech_stopped": self._speech_stopped,
            "input_audio_buffer.committed": self._committed,
            "input_audio_buffer.timeout_triggered": self._timeout_triggered,
            "response.created": self._response_created,
            "response.done": self._response_done,
            "response.output_item.added": self._output_item_added,
            "response.output_item.done": self._output_item_done,
            "response.content_part.added": self._content_part_added,
            "response.output_audio_transcript.delta": self._audio_transcript_delta,
            "response.output_audio.delta": self._audio_delta,
            "response.output_text.delta": self._text_delta,
            "response.function_call_arguments.delta": self._arguments_delta,
            # GA events (and the *.done events of both dialects)
            "conversation.item.retrieved": self._item_retrieved,
            "conversation.item.input_audio_transcription.segment": self._input_segment,
            "input_audio_buffer.cleared": self._input_cleared,
            "session.created": self._session,
            "session.updated": self._session,
            "transcription_session.created": self._session,  # beta transcription sessions
            "transcription_session.updated": self._session,
            "rate_limits.updated": self._rate_limits,
            "response.output_text.done": self._text_done,
            "response.output_audio_transcript.done": self._audio_transcript_done,
            "response.content_part.done": self._content_part_done,
            "response.function_call_arguments.done": self._arguments_done,
            "response.mcp_call_arguments.delta": self._arguments_delta,
            "response.mcp_call_arguments.done": self._arguments_done,
            "mcp_list_tools.in_progress": self._mcp_status,
            "mcp_list_tools.completed": self._mcp_status,
            "mcp_list_tools.failed": self._mcp_status,
            "response.mcp_call.in_progress": self._mcp_status,
            "response.mcp_call.completed": self._mcp_status,
            "response.mcp_call.failed": self._mcp_status,
        }
        # Both dialects' spellings, resolved once (canonical_server_type per event is slower).
        for beta_name in BETA_TO_GA_SERVER_EVENTS:
            ga_handler = self._handlers.get(canonical_server_type(beta_name))
            if ga_handler is not None:
                self._handlers[beta_name] = ga_handler
        self.clear()

    # ------------------------------------------------------------------ state

    def clear(self) -> None:
        """Forget every item, response, queued transcript and input audio."""
        self._items: list[Item] = []
        self._item_lookup: dict[str, Item] = {}
        self._audio: dict[str, AudioBuffer] = {}
        self._responses: list[dict[str, Any]] = []
        self._response_lookup: dict[str, dict[str, Any]] = {}
        self._queued_speech: dict[str, dict[str, Any]] = {}
        self._queued_transcripts: dict[str, dict[str, Any]] = {}
        self._queued_input_audio: np.ndarray | None = None
        self._queued_segments: dict[str, list[dict[str, Any]]] = {}
        self._queued_status: dict[str, str] = {}
        self._truncated: set[str] = set()
        self._out_of_band: set[str] = set()  # ids of out-of-band responses and their items
        self._input = _InputAudio()
        self._open_speech_start: int | None = None
        self._clears_pending = 0
        self.session: dict[str, Any] | None = None
        """The effective session: the server's last ``session.created`` / ``session.updated``
        (or beta ``transcription_session.updated``)."""
        self.rate_limits: list[dict[str, Any]] | None = None
        """The last ``rate_limits.updated`` event's ``rate_limits``."""

    @property
    def sample_rate(self) -> int:
        """The output audio's sample rate (24 kHz, or 8 kHz for G.711)."""
        return self.output_format.rate

    def get_item(self, item_id: str) -> Item | None:
        """The item with this id (a conversation item, or an out-of-band response's), or
        ``None``."""
        return self._item_lookup.get(item_id)

    def get_items(self) -> list[Item]:
        """All items in conversation order (a new list; the items themselves are live).
        Out-of-band responses' items are not among them."""
        return list(self._items)

    def is_out_of_band(self, item_or_response_id: str) -> bool:
        """Whether this id is an out-of-band response's (``conversation: "none"``) or one of
        its items: items kept out of the conversation."""
        return item_or_response_id in self._out_of_band

    def get_response(self, response_id: str) -> dict[str, Any] | None:
        """The response with this id, or ``None``. ``output`` lists the ids of its items."""
        return self._response_lookup.get(response_id)

    def get_response_items(self, response_id: str) -> list[Item]:
        """The items of a response that are known, in output order (out-of-band ones too)."""
        response = self._response_lookup.get(response_id) or {}
        return [self._item_lookup[i] for i in response.get("output") or []
                if i in self._item_lookup]

    def get_responses(self) -> list[dict[str, Any]]:
        """All responses in creation order."""
        return list(self._responses)

    # ------------------------------------------------------------ input audio

    def append_input_audio(self, samples: np.ndarray) -> None:
        """Record input audio the client sent with ``input_audio_buffer.append``."""
        self._input.buf.append(samples)
        self._trim_input()

    def commit_input_audio(self) -> np.ndarray:
        """Hand the audio appended since the last commit to the next user audio item.

        Call it when sending ``input_audio_buffer.commit`` (manual turn mode). Returns the
        committed samples (empty if there were none; then nothing is queued).
        """
        samples = self._input.slice(self._input.commit_at, self._input.end)
        self._input.commit_at = self._input.end
        self._input.drop_before(self._input.end)
        if len(samples):
            self.queue_input_audio(samples)
        return samples

    def clear_input_audio(self) -> None:
        """Drop the input audio not committed yet; call it when sending
        ``input_audio_buffer.clear`` (the server's ``input_audio_buffer.cleared`` reply then
        drops nothing appended since)."""
        self._drop_uncommitted()
        self._clears_pending += 1

    def _drop_uncommitted(self) -> None:
        self._input.commit_at = self._input.end
        self._input.drop_before(self._input.end)
        self._open_speech_start = None

    def queue_input_audio(self, samples: np.ndarray) -> np.ndarray:
        """Give ``samples`` to the next committed / user audio item (the seed's API)."""
        arr = np.array(samples, dtype=np.int16)
        self._queued_input_audio = arr
        return arr

    def pending_input_audio(self) -> np.ndarray:
        """A copy of the samples appended since the last commit (what a manual commit would
        hand over; in server-VAD mode, what is still kept of them)."""
        return self._input.slice(self._input.commit_at, self._input.end)

    @property
    def pending_input_samples(self) -> int:
        """Samples appended since the last commit (what a manual commit would hand over)."""
        return self._input.end - max(self._input.commit_at, self._input.offset)

    @property
    def retained_input_samples(self) -> int:
        """Samples of input audio currently held in memory."""
        return len(self._input.buf)

    def _ms_to_samples(self, ms: float) -> int:
        """Input samples in ``ms`` (speech events count input audio)."""
        return self.input_format.ms_to_samples(ms)

    def _trim_input(self) -> None:
        if not self.server_vad:
            return
        keep_from = self._input.end - self._ms_to_samples(self.vad_retain_ms)
        if self._open_speech_start is not None:
            keep_from = min(keep_from, self._open_speech_start)
        self._input.drop_before(keep_from)

    # ----------------------------------------------------------- processing

    def process_event(self, event: Mapping[str, Any]) -> tuple[Item | None, Delta | None]:
        """Apply one server event; return ``(item, delta)``.

        Events the conversation does not track return ``(None, None)``. An event that names an
        unknown item or response raises :class:`ConversationError` and changes nothing.
        """
        event_type = event.get("type")
        if not isinstance(event_type, str):
            raise ConversationError(f"server event without a type: {dict(event)!r:.200}")
        handler = self._handlers.get(event_type)
        if handler is None:
            return None, None
        return handler(event_type, event)

    def _need_item(self, event_type: str, item_id: Any) -> Item:
        item = self._item_lookup.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            raise ConversationError(f"{event_type}: item {item_id!r} not found")
        return item

    def _need_response(self, event_type: str, response_id: Any) -> dict[str, Any]:
        resp = self._response_lookup.get(response_id) if isinstance(response_id, str) else None
        if resp is None:
            raise ConversationError(f"{event_type}: response {response_id!r} not found")
        return resp

    @staticmethod
    def _part(item: Item, index: Any) -> dict[str, Any] | None:
        content = item.get("content")
        if isinstance(content, list) and isinstance(index, int) and 0 <= index < len(content):
            part = content[index]
            if isinstance(part, dict):
                return part
        return None

    def _insert(self, item: Item, previous_item_id: Any) -> None:
        if isinstance(previous_item_id, str) and previous_item_id in self._item_lookup:
            prev = self._item_lookup[previous_item_id]
            for i in range(len(self._items) - 1, -1, -1):
                if self._items[i] is prev:
                    self._items.insert(i + 1, item)
                    break
            else:  # pragma: no cover - lookup and list are kept in step
                self._items.append(item)
        else:
            self._items.append(item)
        self._item_lookup[item["id"]] = item

    # conversation.item.added (GA) / conversation.item.created (beta)
    def _item_added(self, event_type: str, event: Mapping[str, Any],
                    detached: bool = False) -> tuple[Item, None]:
        src = event.get("item")
        if not isinstance(src, Mapping) or not isinstance(src.get("id"), str):
            raise ConversationError(f"{event_type}: missing item or item id")
        existing = self._item_lookup.get(src["id"])
        if existing is not None:
            # A repeat announcement (e.g. beta-style created plus GA added): refresh the
            # server's fields, keep what was accumulated.
            for key, value in src.items():
                if key not in ("content", "status", "arguments"):
                    existing[key] = copy.deepcopy(value)
            return existing, None
        item: Item = copy.deepcopy(dict(src))
        formatted: dict[str, Any] = {"audio": _EMPTY_AUDIO, "text": "", "transcript": ""}
        item["formatted"] = formatted
        item_id: str = item["id"]
        item_type = item.get("type")
        role = item.get("role")

        speech = self._queued_speech.pop(item_id, None)
        if speech is not None and speech.get("audio") is not None:
            formatted["audio"] = speech["audio"]
        content = item.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in _TEXT_PART_TYPES:
                    formatted["text"] += part.get("text") or ""
        queued = self._queued_transcripts.pop(item_id, None)
        if queued is not None:
            formatted["transcript"] = queued["transcript"]
            part = self._part(item, queued.get("content_index", 0))
            if part is not None and queued.get("completed"):
                part["transcript"] = queued["raw"]
        segments = self._queued_segments.pop(item_id, None)
        if segments:
            formatted["segments"] = segments

        server_status = item.get("status")
        running = server_status if server_status in _FINAL_STATUSES else "in_progress"
        if item_type == "message":
            if role == "user":
                item["status"] = "completed"
                if self._queued_input_audio is not None and speech is None and (
                    not isinstance(content, list)
                    or any(isinstance(p, dict) and p.get("type") == "input_audio" for p in content)
                ):
                    formatted["audio"] = self._queued_input_audio
                    self._queued_input_audio = None
            else:
                item["status"] = running
        elif item_type == "function_call":
            formatted["tool"] = {
                "type": "function",
                "name": item.get("name"),
                "call_id": item.get("call_id"),
                "arguments": item.get("arguments") or "",
            }
            if not isinstance(item.get("arguments"), str):
                item["arguments"] = ""
            item["status"] = running
        elif item_type == "function_call_output":
            item["status"] = "completed"
            formatted["output"] = item.get("output")
        elif item_type == "mcp_approval_response":
            item["status"] = "completed"
        elif item_type in _MCP_RUNNING_TYPES:
            item["status"] = self._queued_status.pop(item_id, running)
        if detached:  # an out-of-band response's item: known by id, not in the conversation
            self._item_lookup[item_id] = item
            self._out_of_band.add(item_id)
        else:
            self._insert(item, event.get("previous_item_id"))
        return item, None

    # conversation.item.done (GA)
    def _item_done(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, None]:
        src = event.get("item")
        if not isinstance(src, Mapping) or not isinstance(src.get("id"), str):
            raise ConversationError(f"{event_type}: missing item or item id")
        item = self._item_lookup.get(src["id"])
        audio = self._decode_parts(event_type, src, item)
        if item is None:
            item, _ = self._item_added(event_type, event)
        self._finish_item(item, src, audio)
        return item, None

    def _decode_parts(self, event_type: str, src: Mapping[str, Any],
                      item: Item | None) -> dict[int, np.ndarray]:
        """The audio of ``src``'s content parts that ``item`` (None: a new item) still needs,
        decoded before anything changes: audio that is not base64 raises ConversationError."""
        if item is not None and len(item["formatted"]["audio"]):
            return {}
        content = src.get("content")
        decoded: dict[int, np.ndarray] = {}
        for index, part in enumerate(content if isinstance(content, list) else []):
            if isinstance(part, Mapping) and isinstance(part.get("audio"), str) and part["audio"]:
                samples = self._decode(event_type, src.get("id"), part["audio"],
                                       self.input_format if part.get("type") == "input_audio"
                                       else self.output_format)
                samples.flags.writeable = False
                decoded[index] = samples
        return decoded

    @staticmethod
    def _decode(event_type: str, item_id: Any, b64: Any, fmt: AudioFormat) -> np.ndarray:
        try:
            return fmt.decode(decode_base64(b64))
        except (ValueError, TypeError) as exc:
            raise ConversationError(
                f"{event_type}: item {item_id!r}: the audio is not base64 ({exc})") from None

    def _finish_item(self, item: Item, src: Mapping[str, Any],
                     audio: dict[int, np.ndarray]) -> bool:
        """Merge the final item (a `*.item.done` or `retrieved` event's): fields, content
        (``audio``: its parts' decoded audio), status. Returns whether anything changed."""
        changed = self._merge_item(item, src, audio)
        status = src.get("status")
        if status is not None:
            changed |= item.get("status") != status
            item["status"] = status
        elif item.get("type") in _MCP_RUNNING_TYPES and item.get("status") not in _FINAL_STATUSES:
            item["status"] = "incomplete" if src.get("error") else "completed"
            changed = True
        return changed

    def _merge_item(self, item: Item, src: Mapping[str, Any],
                    audio: dict[int, np.ndarray]) -> bool:
        changed = False
        for key, value in src.items():
            if key in ("content", "formatted", "status"):
                continue
            if key == "arguments":
                if isinstance(value, str):
                    changed |= self._set_arguments(item, value)
                continue
            if key == "output" and item.get("type") == "function_call_output":
                item["formatted"]["output"] = value
            if item.get(key) != value:
                item[key] = copy.deepcopy(value)
                changed = True
        content = src.get("content")
        if isinstance(content, list):
            for index, part in enumerate(content):
                if isinstance(part, Mapping):
                    changed |= self._merge_part(item, index, part, audio.get(index))
            changed |= self._sync_formatted(item)
        return changed

    def _merge_part(self, item: Item, index: int, src: Mapping[str, Any],
                    audio: np.ndarray | None) -> bool:
        """Merge a final content part into ``item["content"][index]`` (created if missing);
        empty values never replace accumulated ones, its decoded ``audio`` (if any) goes to
        ``formatted``."""
        content = item.get("content")
        if not isinstance(content, list):
            content = item["content"] = []
        if index > len(content):
            return False
        if index == len(content):
            content.append({})
        part = content[index]
        if not isinstance(part, dict):
            return False
        changed = False
        truncated = item.get("id") in self._truncated
        for key, value in src.items():
            if key == "audio":
                if audio is not None and not len(item["formatted"]["audio"]):
                    item["formatted"]["audio"] = audio
                    changed = True
                continue
            if value is None or (value == "" and part.get(key)):
                continue
            if key == "transcript" and truncated:
                continue
            if part.get(key) != value:
                part[key] = copy.deepcopy(value)
                changed = True
        return changed

    def _sync_formatted(self, item: Item) -> bool:
        """Set ``formatted`` text / transcript from the content parts when these hold more."""
        content = item.get("content")
        if not isinstance(content, list):
            return False
        formatted = item["formatted"]
        changed = False
        text = "".join(p.get("text") or "" for p in content
                       if isinstance(p, dict) and p.get("type") in _TEXT_PART_TYPES)
        if text and text != formatted["text"]:
            formatted["text"] = text
            changed = True
        if item.get("id") not in self._truncated:
            transcript = "".join(p.get("transcript") or "" for p in content
                                 if isinstance(p, dict) and p.get("type") in _AUDIO_PART_TYPES)
            if transcript and transcript != formatted["transcript"]:
                formatted["transcript"] = transcript
                changed = True
        return changed

    @staticmethod
    def _set_arguments(item: Item, arguments: str) -> bool:
        if item.get("arguments") == arguments:
            return False
        item["arguments"] = arguments
        tool = item["formatted"].get("tool")
        if isinstance(tool, dict):
            tool["arguments"] = arguments
        return True

    def _item_truncated(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, None]:
        item = self._need_item(event_type, event.get("item_id"))
        self._truncated.add(item["id"])
        end = self.output_format.ms_to_samples(event.get("audio_end_ms") or 0)
        buf = self._audio.get(item["id"])
        if buf is not None:
            buf.truncate(end)
            item["formatted"]["audio"] = buf.view()
        else:
            item["formatted"]["audio"] = item["formatted"]["audio"][:end]
        item["formatted"]["transcript"] = ""
        return item, None

    def _item_deleted(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, None]:
        item = self._need_item(event_type, event.get("item_id"))
        del self._item_lookup[item["id"]]
        self._audio.pop(item["id"], None)
        self._truncated.discard(item["id"])
        for i, other in enumerate(self._items):
            if other is item:
                del self._items[i]
                break
        return item, None

    def _input_transcript_delta(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item | None, Delta | None]:
        item_id = event.get("item_id")
        delta = event.get("delta") or ""
        item = self._item_lookup.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            if isinstance(item_id, str):
                q = self._queued_transcripts.setdefault(
                    item_id, {"transcript": "", "raw": "", "completed": False}
                )
                if not q["completed"]:
                    q["transcript"] += delta
                    q["raw"] += delta
                    q["content_index"] = event.get("content_index", 0)
            return None, None
        item["formatted"]["transcript"] += delta
        return item, {"transcript": delta}

    def _input_transcript_done(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item | None, Delta | None]:
        item_id = event.get("item_id")
        transcript = event.get("transcript") or ""
        formatted_transcript = transcript or " "  # an empty transcript shows as " "
        item = self._item_lookup.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            # Transcripts can arrive before the item (VAD mode); apply when it appears.
            if isinstance(item_id, str):
                self._queued_transcripts[item_id] = {
                    "transcript": formatted_transcript,
                    "raw": transcript,
                    "completed": True,
                    "content_index": event.get("content_index", 0),
                }
            return None, None
        part = self._part(item, event.get("content_index", 0))
        if part is not None:
            part["transcript"] = transcript
        item["formatted"]["transcript"] = formatted_transcript
        return item, {"transcript": transcript}

    def _speech_started(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        if self.server_vad is None:
            self.server_vad = True
        item_id = event.get("item_id")
        start_ms = event.get("audio_start_ms") or 0
        if isinstance(item_id, str):
            self._queued_speech[item_id] = {"audio_start_ms": start_ms}
        self._open_speech_start = self._ms_to_samples(start_ms)
        return None, None

    def _speech_stopped(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        if self.server_vad is None:
            self.server_vad = True
        item_id = event.get("item_id")
        end_ms = event.get("audio_end_ms") or 0
        speech = self._queued_speech.get(item_id) if isinstance(item_id, str) else None
        if speech is None:
            speech = {"audio_start_ms": end_ms}
            if isinstance(item_id, str):
                self._queued_speech[item_id] = speech
        speech["audio_end_ms"] = end_ms
        speech["audio"] = self._input.slice(
            self._ms_to_samples(speech["audio_start_ms"]), self._ms_to_samples(end_ms)
        )
        self._open_speech_start = None
        self._trim_input()
        item = self._item_lookup.get(item_id) if isinstance(item_id, str) else None
        if item is not None and not len(item["formatted"]["audio"]):
            # The item was announced before speech stopped: give it the audio now.
            item["formatted"]["audio"] = self._queued_speech.pop(item_id)["audio"]
        return None, None

    def _committed(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        item_id = event.get("item_id")
        if (
            self._queued_input_audio is not None
            and isinstance(item_id, str)
            and item_id not in self._queued_speech
            and item_id not in self._item_lookup
        ):
            self._queued_speech[item_id] = {"audio": self._queued_input_audio}
            self._queued_input_audio = None
        return None, None

    def _timeout_triggered(self, event_type: str, event: Mapping[str, Any]
                           ) -> tuple[None, None]:
        """Server VAD's idle timeout commits the (quiet) segment it names: its audio goes to
        that item, as a speech segment's does."""
        item_id = event.get("item_id")
        start_ms = event.get("audio_start_ms") or 0
        end_ms = event.get("audio_end_ms") or start_ms
        if isinstance(item_id, str):
            self._queued_speech[item_id] = {
                "audio_start_ms": start_ms, "audio_end_ms": end_ms,
                "audio": self._input.slice(self._ms_to_samples(start_ms),
                                           self._ms_to_samples(end_ms))}
        self._open_speech_start = None
        self._trim_input()
        return None, None

    def _response_created(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        src = event.get("response")
        if not isinstance(src, Mapping) or not isinstance(src.get("id"), str):
            raise ConversationError(f"{event_type}: missing response or response id")
        if "conversation_id" in src and src["conversation_id"] is None:
            self._out_of_band.add(src["id"])  # conversation "none": an out-of-band response
        if src["id"] not in self._response_lookup:
            response = copy.deepcopy(dict(src))
            response["output"] = [
                o["id"] if isinstance(o, Mapping) else o for o in response.get("output") or []
            ]
            self._response_lookup[response["id"]] = response
            self._responses.append(response)
        return None, None

    def _response_done(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        src = event.get("response")
        if not isinstance(src, Mapping):
            raise ConversationError(f"{event_type}: missing response")
        response = self._need_response(event_type, src.get("id"))
        for key, value in src.items():
            if key == "output":
                ids = [o.get("id") if isinstance(o, Mapping) else o for o in value or []]
                for i in ids:
                    if i not in response["output"]:
                        response["output"].append(i)
            else:
                response[key] = copy.deepcopy(value)
        return None, None

    def _output_item_added(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        response = self._need_response(event_type, event.get("response_id"))
        src = event.get("item")
        item_id = src.get("id") if isinstance(src, Mapping) else None
        if not isinstance(item_id, str):
            raise ConversationError(f"{event_type}: missing item or item id")
        if item_id not in response["output"]:
            response["output"].append(item_id)
        if response["id"] in self._out_of_band and item_id not in self._item_lookup:
            self._item_added(event_type, {"item": src}, detached=True)
        return None, None

    def _output_item_done(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, None]:
        src = event.get("item")
        if not isinstance(src, Mapping):
            raise ConversationError(f"{event_type}: missing item")
        item = self._need_item(event_type, src.get("id"))
        self._finish_item(item, src, self._decode_parts(event_type, src, item))
        return item, None

    def _content_part_added(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, None]:
        item = self._need_item(event_type, event.get("item_id"))
        part = copy.deepcopy(dict(event.get("part") or {}))
        content = item.get("content")
        if not isinstance(content, list):
            content = item["content"] = []
        content.append(part)
        return item, None

    def _audio_transcript_delta(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item, Delta]:
        item = self._need_item(event_type, event.get("item_id"))
        delta = event.get("delta") or ""
        part = self._part(item, event.get("content_index"))
        if part is not None:
            part["transcript"] = (part.get("transcript") or "") + delta
        item["formatted"]["transcript"] += delta
        return item, {"transcript": delta}

    def _audio_delta(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, Delta]:
        # The hot path of a long audio response: keep it lean.
        item_id = event.get("item_id")
        buf = self._audio.get(item_id)  # type: ignore[arg-type]
        item = (self._need_item(event_type, item_id) if buf is None
                else self._item_lookup[item_id])  # type: ignore[index]
        try:
            raw = decode_base64(event.get("delta") or "")
        except (ValueError, TypeError) as exc:  # before anything changes
            raise ConversationError(f"{event_type}: item {item_id!r}: the audio delta is not "
                                    f"base64 ({exc})") from None
        if buf is None:
            buf = self._audio[item_id] = AudioBuffer(item["formatted"]["audio"])  # type: ignore[index]
        fmt = self.output_format
        if fmt.sample_width == 2:
            samples = buf.append_pcm16(raw)
        else:  # G.711: decode, then append
            start = len(buf)
            buf.append(fmt.decode(raw))
            samples = buf.view()[start:]
        item["formatted"]["audio"] = buf.view()
        return item, {"audio": samples}

    def _text_delta(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, Delta]:
        item = self._need_item(event_type, event.get("item_id"))
        delta = event.get("delta") or ""
        part = self._part(item, event.get("content_index"))
        if part is not None:
            part["text"] = (part.get("text") or "") + delta
        item["formatted"]["text"] += delta
        return item, {"text": delta}

    def _arguments_delta(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, Delta]:
        item = self._need_item(event_type, event.get("item_id"))
        delta = event.get("delta") or ""
        item["arguments"] = (item.get("arguments") or "") + delta
        tool = item["formatted"].get("tool")
        if isinstance(tool, dict):
            tool["arguments"] += delta
        return item, {"arguments": delta}

    # ------------------------------------------------------- GA and *.done events

    # conversation.item.retrieved: the server's current copy of an item
    def _item_retrieved(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item, None]:
        src = event.get("item")
        if not isinstance(src, Mapping) or not isinstance(src.get("id"), str):
            raise ConversationError(f"{event_type}: missing item or item id")
        item = self._item_lookup.get(src["id"])
        audio = self._decode_parts(event_type, src, item)
        if item is None:
            item, _ = self._item_added(event_type, {"item": src, "previous_item_id": None})
        self._finish_item(item, src, audio)
        return item, None

    def _input_segment(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item | None, None]:
        item_id = event.get("item_id")
        segment = {k: event.get(k) for k in ("id", "speaker", "start", "end", "text")}
        item = self._item_lookup.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            if isinstance(item_id, str):  # before its item (VAD mode): applied when it appears
                self._queued_segments.setdefault(item_id, []).append(segment)
            return None, None
        item["formatted"].setdefault("segments", []).append(segment)
        return item, None

    def _input_cleared(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        if self._clears_pending:
            self._clears_pending -= 1  # dropped when the client sent the clear
        else:
            self._drop_uncommitted()
        return None, None

    def _session(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        session = event.get("session")
        if isinstance(session, Mapping):
            self.session = copy.deepcopy(dict(session))
        return None, None

    def _rate_limits(self, event_type: str, event: Mapping[str, Any]) -> tuple[None, None]:
        limits = event.get("rate_limits")
        if isinstance(limits, list):
            self.rate_limits = copy.deepcopy(limits)
        return None, None

    def _text_done(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item | None, None]:
        return self._final_part_value(event_type, event, "text")

    def _audio_transcript_done(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item | None, None]:
        return self._final_part_value(event_type, event, "transcript")

    def _final_part_value(
        self, event_type: str, event: Mapping[str, Any], key: str
    ) -> tuple[Item | None, None]:
        """`response.output_text.done` / `.output_audio_transcript.done`: the final text of
        one part replaces what the deltas built (returns the item only if that changed it)."""
        item = self._need_item(event_type, event.get("item_id"))
        value = event.get(key)
        if not isinstance(value, str) or (key == "transcript" and item["id"] in self._truncated):
            return None, None
        part = self._part(item, event.get("content_index"))
        changed = False
        if part is not None:
            if part.get(key) != value:
                part[key] = value
                changed = True
            changed |= self._sync_formatted(item)
        elif value and not item["formatted"][key]:
            item["formatted"][key] = value
            changed = True
        return (item, None) if changed else (None, None)

    def _content_part_done(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item | None, None]:
        item = self._need_item(event_type, event.get("item_id"))
        part = event.get("part")
        index = event.get("content_index")
        if not isinstance(part, Mapping) or not isinstance(index, int):
            return None, None
        audio = self._decode_parts(event_type, {"id": item["id"], "content": [part]}, item)
        changed = self._merge_part(item, index, part, audio.get(0))
        changed |= self._sync_formatted(item)
        return (item, None) if changed else (None, None)

    def _arguments_done(
        self, event_type: str, event: Mapping[str, Any]
    ) -> tuple[Item | None, None]:
        item = self._need_item(event_type, event.get("item_id"))
        arguments = event.get("arguments")
        if isinstance(arguments, str) and self._set_arguments(item, arguments):
            return item, None
        return None, None

    def _mcp_status(self, event_type: str, event: Mapping[str, Any]) -> tuple[Item | None, None]:
        """`mcp_list_tools.*` / `response.mcp_call.*`: in_progress, completed, or failed
        (the item ends ``incomplete``)."""
        status = _MCP_STATUS[event_type.rsplit(".", 1)[1]]
        item_id = event.get("item_id")
        item = self._item_lookup.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            if not isinstance(item_id, str):
                raise ConversationError(f"{event_type}: missing item_id")
            self._queued_status[item_id] = status  # applied when the item appears
            return None, None
        if item.get("status") == status or (
                status == "in_progress" and item.get("status") in _FINAL_STATUSES):
            return None, None
        item["status"] = status
        return item, None
