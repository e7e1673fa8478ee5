"""detect-secrets, as the tests use it: the secret scanner rtkit's token catalogue is measured
against (tests/test_token_catalogue.py), and the scan of every cassette the test suite
wrote (tests/conftest.py).

Its regex plugins run; its entropy heuristics (every base64 audio chunk and random id is
"high entropy") and its public-IP plugin do not. The keyword plugin (`password = "..."` in
code) runs too: a cassette is data, and none the tests write should look like one.

The cassette scan leaves out the base64 payload of audio events (rtkit's own
`audio_payload_span`): PCM as base64 is not text a token could be read in, and its runs
look like tokens to the regexes (a tone's `APAA8ADw...` is "Artifactory Credentials"). A live
key inside audio is the recorder's own final scan's to refuse.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PLUGINS", "REGEX_PLUGINS", "scan_cassettes", "scan_file", "scan_text"]

CASSETTE_SUFFIXES = (".jsonl", ".http.yaml")
# a test that plants a secret on purpose, to see a scan or a refusal find it, names its file so
PLANTED = "planted"

REGEX_PLUGINS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
    "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector",
    "GitLabTokenDetector", "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector",
    "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector",
    "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector",
    "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector",
)
PLUGINS = (*REGEX_PLUGINS, "KeywordDetector")


@contextlib.contextmanager
def _settings(plugins: tuple[str, ...]) -> Iterator[None]:
    from detect_secrets.settings import transient_settings

    with transient_settings({"plugins_used": [{"name": name} for name in plugins]}):
        yield


def scan_text(text: str, plugins: tuple[str, ...] = PLUGINS) -> list[tuple[str, int]]:
    """(secret type, line number) of each finding in `text`."""
    from detect_secrets.core.scan import scan_line

    found = []
    with _settings(plugins):
        for lineno, line in enumerate(text.splitlines(), start=1):
            found += [(secret.type, lineno) for secret in scan_line(line)]
    return found


def scan_file(path: str | os.PathLike[str], plugins: tuple[str, ...] = PLUGINS
              ) -> list[tuple[str, int]]:
    """(secret type, line number) of each finding in the file at `path`."""
    return scan_text(Path(path).read_text(encoding="utf-8", errors="replace"), plugins)


def _without_audio(line: str) -> str:
    """A cassette line with an audio event's base64 payload emptied."""
    from rtkit.cassette.redact import audio_payload_span

    raw = line.encode("utf-8", "surrogateescape")
    at = raw.find(b'"event":')
    span = audio_payload_span(raw, at + len(b'"event":')) if at >= 0 else None
    if span is None:
        return line
    return (raw[:span[0]] + raw[span[1]:]).decode("utf-8", "surrogateescape")


def scan_cassettes(root: str | os.PathLike[str]) -> list[tuple[Path, int, str]]:
    """(file, line number, secret type) of each finding in the cassettes under `root`
    (files named with `PLANTED` are left out)."""
    from detect_secrets.core.scan import scan_line

    found: list[tuple[Path, int, str]] = []
    paths = [p for p in Path(root).rglob("*") if p.name.endswith(CASSETTE_SUFFIXES)
             and PLANTED not in p.name and p.is_file()]
    clean: set[str] = set()  # many tests copy the shipped cassettes: each line is read once
    with _settings(PLUGINS):
        for path in sorted(paths):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for lineno, line in enumerate(text.splitlines(), start=1):
                if line in clean:
                    continue
                hits = [(path, lineno, secret.type) for secret in scan_line(_without_audio(line))]
                if hits:
                    found += hits
                else:
                    clean.add(line)
    return found
