"""The reference-client port: RealtimeClient, RealtimeAPI, RealtimeConversation, events."""

from rtkit.client.api import RealtimeAPI
from rtkit.client.client import RealtimeClient
from rtkit.client.conversation import RealtimeConversation
from rtkit.client.event_handler import RealtimeEventHandler

__all__ = ["RealtimeAPI", "RealtimeClient", "RealtimeConversation", "RealtimeEventHandler"]
