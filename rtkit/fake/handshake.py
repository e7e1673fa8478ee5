"""What the fake decides from a WebSocket upgrade request, as the live API does: the
subprotocol it selects, the dialect, the model, and whether the key is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from rtkit.fake.session import Problem
from rtkit.protocol.events import Dialect

__all__ = [
    "BETA_PROTOCOL",
    "INSECURE_KEY_PROTOCOL",
    "Handshake",
    "Refusal",
    "mask_key",
    "presented_key",
    "read_handshake",
    "select_subprotocol",
]

INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"
CLOSE_AUTH = 3000  # the live API's close code for a refused key
CLOSE_REQUEST = 4000  # ... and for a refused request shape


@dataclass(frozen=True)
class Refusal:
    """The upgrade succeeds, then one `error` event and a close with `code`, `reason`."""

    problem: Problem
    code: int

    @property
    def reason(self) -> str:
        """`<error.type>.<error.code>`, like the live API's close reason."""
        return f"invalid_request_error.{self.problem.code}"


@dataclass(frozen=True)
class Handshake:
    """The decisions for one connection."""

    dialect: Dialect
    model: str
    subprotocol: str | None = None
    refusal: Refusal | None = None
    key_presented: bool = False
    intent: str | None = None  # `?intent=transcription`: a transcription session


def select_subprotocol(offered: Sequence[str]) -> str | None:
    """`realtime` when the client offers it, as the live API does (the JS SDK and the reference
    JS client refuse a server that selects none); otherwise none."""
    return "realtime" if "realtime" in offered else None


def presented_key(headers: Mapping[str, str], offered: Sequence[str]) -> str | None:
    """The key the client sent: `Authorization: Bearer K` or `openai-insecure-api-key.K`."""
    auth = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for proto in offered:
        if proto.startswith(INSECURE_KEY_PROTOCOL) and len(proto) > len(INSECURE_KEY_PROTOCOL):
            return proto[len(INSECURE_KEY_PROTOCOL):]
    return None


def mask_key(key: str) -> str:
    """A key as the live API shows it in an error: its first 3 and last 4 characters."""
    return f"{key[:3]}***{key[-4:]}" if len(key) >= 12 else "***"


def read_handshake(
    target: str,
    headers: Mapping[str, str],
    offered: Sequence[str],
    *,
    dialect: Literal["auto", "ga", "beta"],
    default_model: str,
    api_key: str | None,
) -> Handshake:
    """Decide about one upgrade request (`target` is its path and query).

    `dialect="auto"` follows the client (the `OpenAI-Beta: realtime=v1` header or the
    `openai-beta.realtime-v1` subprotocol select beta); `"ga"` refuses beta clients the way the
    live API does today (`beta_api_shape_disabled`, close 4000); `"beta"` always speaks beta.
    With `api_key` set, any other key is refused (`invalid_api_key`, close 3000).
    `?intent=transcription` asks for a transcription session (GA or beta).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    wants_beta = lowered.get("openai-beta", "").replace(" ", "") == "realtime=v1" or (
        BETA_PROTOCOL in offered)
    query = parse_qs(urlsplit(target).query)
    model = (query.get("model") or [default_model])[0]
    intent = (query.get("intent") or [None])[0]
    key = presented_key(lowered, offered)
    chosen: Dialect = "beta" if dialect == "beta" or (dialect == "auto" and wants_beta) else "ga"
    refusal = None
    if api_key is not None and key != api_key:
        shown = f"Incorrect API key provided: {mask_key(key)}." if key else (
            "You didn't provide an API key.")
        refusal = Refusal(Problem("invalid_api_key", f"{shown} You can find your API key at "
                                  "https://platform.openai.com/account/api-keys."), CLOSE_AUTH)
    elif dialect == "ga" and wants_beta:
        refusal = Refusal(Problem("beta_api_shape_disabled",
                                  "The beta Realtime API shape is disabled: connect without the "
                                  "OpenAI-Beta: realtime=v1 header and send GA events."),
                          CLOSE_REQUEST)
    return Handshake(chosen, model, select_subprotocol(offered), refusal, key is not None,
                     intent)
