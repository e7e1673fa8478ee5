"""rtkit's token catalogue covers detect-secrets: for each of its regex plugins, a value that
plugin reports (checked with detect-secrets itself) comes out of the Redactor with nothing
detect-secrets would report, as plain text and inside a JSON event; redacting twice changes
nothing; and the families the issue names besides (Google, GitHub fine-grained, Basic
credentials, base64 of a live key) are removed too. Every value is built at run time: no
key-shaped literal in the repository."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rtkit.cassette import Redactor
from rtkit.cassette.tokens import RULES, find_tokens, has_gate
from tests import secret_scan
from tests.secret_scan import REGEX_PLUGINS, scan_cassettes, scan_text

A = "abcdefghijklmnopqrstuvwxyz"
D = "0123456789"


def _jwt() -> str:
    part = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = base64.urlsafe_b64encode(json.dumps({"sub": "1234567890", "n": "x"}).encode())
    return f"{part.decode().rstrip('=')}.{body.decode().rstrip('=')}.c2lnbmF0dXJlX2hlcmU"


# plugin -> a line it reports
SAMPLES = {
    "ArtifactoryDetector": "artifactory: AKC" + "p8" + A[:12] + D,
    "AWSKeyDetector": "AKIA" + "IOSFODNN7EXAMPLE",
    "AzureStorageKeyDetector": "AccountKey=" + ("Ab1+" * 22),
    "BasicAuthDetector": "https://" + "user" + ":" + "hunter2pass" + "@example.com/x",
    "CloudantDetector": "cloudant_password = '" + "0123456789abcdef" * 4 + "'",
    "DiscordBotTokenDetector": "M" + "T" * 23 + "." + "G" * 6 + "." + "h" * 27,
    "GitHubTokenDetector": "ghp_" + (A + D)[:36],
    "GitLabTokenDetector": "glpat-" + (A + D)[:20],
    "IbmCloudIamDetector": "ibm_cloud_iam_api_key = '" + "x1Y2z3W4" * 5 + "abcd'",
    "IbmCosHmacDetector": "secret_access_key = '" + "0123456789abcdef" * 3 + "'",
    "JwtTokenDetector": _jwt(),
    "MailchimpDetector": (A[:16] + D + A[:6]) + "-us12",
    "NpmDetector": "//registry.npmjs.org/:_authToken=" + "npm_" + (A + D)[:36],
    "OpenAIDetector": "-".join(("sk", "proj" + (A + D)[:20]
                                + base64.b64encode(b"OpenAI").decode() + (D + A)[:20])),
    "PrivateKeyDetector": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA",
    "PypiTokenDetector": "pypi-" + "AgEIcHlwaS5vcmc" + "x" * 70,
    "SendGridDetector": "SG." + "a" * 22 + "." + "b" * 43,
    "SlackDetector": "xoxb-" + "1234567890-" + "0987654321-" + "abcdefghij",
    "SoftlayerDetector": "softlayer_api_key = '" + (A + D)[:32] * 2 + "'",
    "SquareOAuthDetector": "sq0csp-" + "a" * 43,
    "StripeDetector": "sk_live_" + (A + D)[:24],
    "TelegramBotTokenDetector": "123456789:" + "A" * 35,
    "TwilioKeyDetector": "AC" + "0123456789abcdef" * 2,
}
# the families the issue names that detect-secrets has no plugin for, and what must go
EXTRA = {
    "google-api-key": ("key AIza" + "Sy" + (A + D)[:33], "AIza" + "Sy"),
    "github-token": ("github_pat_" + "11ABCDEFG0" + (A + D) * 2, "11ABCDEFG0"),
    "basic-credentials": ("Authorization: Basic " + base64.b64encode(b"me:pw-123").decode(),
                          base64.b64encode(b"me:pw-123").decode()),
    "bearer-tokens": ("Bearer " + (A + D)[:24], (A + D)[:24]),
    "ek-keys": ("_".join(("ek", (A + D)[:24])), (A + D)[:24]),
}


def test_every_regex_plugin_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(REGEX_PLUGINS)


@pytest.mark.parametrize("plugin", sorted(SAMPLES))
def test_what_detect_secrets_finds_rtkit_removes(plugin: str) -> None:
    sample = SAMPLES[plugin]
    assert scan_text(sample, (plugin,)), f"the sample for {plugin} is not one it reports"
    red = Redactor()
    line = f"said: {sample} ok"
    clean = red.text(line)
    assert not scan_text(clean, REGEX_PLUGINS), (plugin, clean)
    assert red.text(clean) == clean  # idempotent
    assert find_tokens(clean) == [] and red.find_leak(clean) is None
    assert red.find_leak(line) is not None  # the refuse-to-write scan knows the family
    # inside a JSON event, as a cassette line holds it
    raw = json.dumps({"type": "conversation.item.create", "item": {"type": "message",
                      "content": [{"type": "input_text", "text": line}]}})
    new, event = red.event(raw, json.loads(raw), "client")  # type: ignore[misc]
    assert not scan_text(new, REGEX_PLUGINS), (plugin, new)
    assert event["item"]["content"][0]["text"] == clean


@pytest.mark.parametrize("family", sorted(EXTRA))
def test_the_other_families_the_issue_names(family: str) -> None:
    text, secret = EXTRA[family]
    red = Redactor()
    assert family in red.filters_matching(text)
    clean = red.text(text)
    assert secret not in clean and "REDACTED" in clean
    assert red.text(clean) == clean


def test_a_live_key_base64_encoded_anywhere_is_removed() -> None:
    key = "azure-" + "k" * 30
    red = Redactor(secrets=[key])
    for prefix in (b"", b"x", b"xy"):  # every alignment inside the base64
        encoded = base64.b64encode(prefix + b"the key: " + key.encode() + b" end").decode()
        clean = red.text(f"instructions: {encoded}")
        assert red.find_secret(clean) is None and "REDACTED" in clean
        assert red.find_secret(encoded) is not None  # the scan sees it too
    urlsafe = base64.urlsafe_b64encode(b"\xfb\xff" + key.encode()).decode()
    assert red.find_secret(urlsafe) is not None


def test_ordinary_text_is_left_alone() -> None:
    red = Redactor()
    for text in ("-".join(("task", "management-feature-flags")), "Basic English for beginners",
                 "the weather in Paris is 21 C", "event_CMcvBWVQgGCH4a7FEdVyW",
                 '{"type":"response.done","response":{"id":"resp_CMcvBWVQgGCH4a7FEdVyW"}}',
                 "https://example.com/v1/realtime?model=gpt-realtime"):
        assert red.text(text) == text, text


def test_a_text_without_any_gate_is_not_searched() -> None:
    typical = json.dumps({"type": "response.output_audio_transcript.delta",
                          "event_id": "event_CMcvBWVQgGCH4a7FEdVyW", "delta": "word "})
    assert not has_gate(typical)
    assert all(rule.name for rule in RULES)


def test_the_end_of_run_scan_finds_what_a_cassette_holds(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan tests/conftest.py runs over everything the suite wrote reports a token in
    any cassette (a line repeated in a second cassette too), skips a planted one, and does
    not read base64 audio (a tone's payload looks like an Artifactory token to it)."""
    token = SAMPLES["GitHubTokenDetector"]
    tone = json.dumps({"type": "response.output_audio.delta", "delta": "APAA8ADw" * 20})
    assert scan_text(tone)  # what it would report if it read the payload
    line = json.dumps({"t": 1, "event": {"type": "x", "instructions": token}})
    line += "\n" + json.dumps({"t": 2, "event": json.loads(tone)}, separators=(",", ":"))
    paths = [tmp_path / "a.jsonl", tmp_path / "sub" / "b.http.yaml",
             tmp_path / "planted-c.jsonl", tmp_path / "d.txt"]
    try:
        for path in paths:
            path.parent.mkdir(exist_ok=True)
            path.write_text(f'{{"kind": "header"}}\n{line}\n')
        found = scan_cassettes(tmp_path)
        assert [(p.name, n) for p, n, _ in found] == [("a.jsonl", 2), ("b.http.yaml", 2)]
        # the end of the run shares big sets out to two child interpreters: the same findings
        monkeypatch.setattr(secret_scan, "PARALLEL_FROM", 0)
        assert scan_cassettes(tmp_path, workers=2) == found
    finally:  # this run's own scan must not see them
        for path in paths:
            path.unlink()
