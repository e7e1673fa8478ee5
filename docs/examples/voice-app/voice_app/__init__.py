"""voice-app: a spoken weather assistant on the OpenAI Realtime API."""

from voice_app.assistant import Reply, talk
from voice_app.cli import main

__all__ = ["Reply", "main", "talk"]
