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
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NO_SCAN", "PLUGINS", "REGEX_PLUGINS", "scan_cassettes", "scan_file", "scan_text"]

# set in the child runs of the suite on other dependency releases (tests/test_websockets_range.py,
# tests/test_dependency_floors.py): their cassettes come from the same recorder, which the
# parent run's own end-of-run scan covers
NO_SCAN = "RTKIT_TESTS_NO_SECRET_SCAN"
# below this many bytes of cassettes, starting child interpreters costs more than it saves
PARALLEL_FROM = 32 * 1024 * 1024

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


def _scan_files(paths: list[Path]) -> list[tuple[Path, int, str]]:
    """(file, line number, secret type) of each finding in the cassette files `paths`."""
    from detect_secrets.core.scan import scan_line

    found: list[tuple[Path, int, str]] = []
    clean: set[str] = set()  # many tests copy the shipped cassettes: each line is read once
    with _settings(PLUGINS):
        for path in paths:
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


def scan_cassettes(root: str | os.PathLike[str], workers: int = 1
                   ) -> list[tuple[Path, int, str]]:
    """(file, line number, secret type) of each finding in the cassettes under `root`
    (files named with `PLANTED` are left out), on `workers` processes."""
    paths = sorted(p for p in Path(root).rglob("*") if p.name.endswith(CASSETTE_SUFFIXES)
                   and PLANTED not in p.name and p.is_file())
    if workers <= 1 or sum(p.stat().st_size for p in paths) < PARALLEL_FROM:
        return _scan_files(paths)
    # deal the files out by size, biggest first, so the processes finish together
    shares: list[list[Path]] = [[] for _ in range(workers)]
    sizes = [0] * workers
    for path in sorted(paths, key=lambda p: p.stat().st_size, reverse=True):
        least = sizes.index(min(sizes))
        shares[least].append(path)
        sizes[least] += path.stat().st_size
    # each share in a child interpreter (multiprocessing would re-run the parent's __main__,
    # which under pytest is whatever started it), paths in on stdin, findings out as JSON
    root_dir = Path(__file__).resolve().parent.parent
    children = [subprocess.Popen([sys.executable, "-m", "tests.secret_scan"], cwd=root_dir,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for _ in shares]
    for child, share in zip(children, shares, strict=True):  # all of them at work at once
        assert child.stdin is not None
        child.stdin.write("\n".join(map(str, share)))
        child.stdin.close()
    found: list[tuple[Path, int, str]] = []
    for child, share in zip(children, shares, strict=True):
        assert child.stdout is not None
        out = child.stdout.read()
        if child.wait() != 0:
            raise RuntimeError(f"the secret scan of {len(share)} files exited "
                               f"{child.returncode}")
        found += [(Path(path), lineno, kind) for path, lineno, kind in json.loads(out)]
    return sorted(found)


if __name__ == "__main__":  # a share of scan_cassettes(workers > 1): paths on stdin
    print(json.dumps([(str(path), lineno, kind) for path, lineno, kind
                      in _scan_files([Path(line) for line in sys.stdin.read().splitlines()])]))
