"""The catalogue of secret shapes rtkit removes from recordings: a rule table, as data.

Each rule names a token family (OpenAI, GitHub, Google, Slack, AWS, Stripe, JWT, ...), its
regex, and the literals (or a cheap regex) that every match contains: a text holding none of a
rule's gates is not searched with that rule, so scanning a typical event costs a few `in`
tests, not dozens of regex searches. The families are detect-secrets' regex plugins (its
entropy and keyword heuristics are not: they would flag every base64 audio chunk and rewrite
application data), plus the OpenAI, Google, GitHub fine-grained, Anthropic-style `sk-` and
HTTP `Bearer` / `Basic` credentials; `tests/test_token_catalogue.py` proves, with
detect-secrets itself, that every one of its regex plugins' findings is removed.

Only the part of a match named `secret` (the whole match when the rule has no such group) is
replaced, with `REDACTED`, so what remains says what was there (`ghp_REDACTED`,
`Bearer REDACTED`, `://REDACTED@host`: a user name and a placeholder would still look
like credentials to a scanner). A match that already holds `REDACTED` is left
alone: redacting twice changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["RULES", "TokenRule", "find_tokens", "has_gate", "redact_tokens"]

PLACEHOLDER = "REDACTED"


@dataclass(frozen=True)
class TokenRule:
    """One token family.

    name: what `rtkit scrub` and the cassette header report (e.g. `github-token`).
    pattern: the regex; its group `secret`, when present, is the part replaced.
    gates: lower-case literals one of which every match, lower-cased, contains; or a regex
        (a `re.Pattern`) whose search must succeed before `pattern` is tried. Rules share
        short gates (`sk` for `sk-` keys and Twilio's `SK...`), so a text is tested against
        a few dozen literals once, not once per rule.
    word_start: the match must not follow a letter or a digit (a JSON escape such as `\\n`
        may precede it): "task-management" holds no `sk-` key.
    check: a further test of the whole match (e.g. that `Basic` is followed by base64 of
        `user:password`).
    """

    name: str
    pattern: re.Pattern[str]
    gates: tuple[str, ...] | re.Pattern[str]
    word_start: bool = False
    check: Callable[[str], bool] | None = None


def _basic_credentials(match: str) -> bool:
    """`Basic <base64>` where the base64 decodes to `user:password`."""
    value = match.split(None, 1)[-1]
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded and decoded.isascii()


def _rule(name: str, pattern: str, gates: tuple[str, ...] | str, *, flags: int = 0,
          word_start: bool = False, check: Callable[[str], bool] | None = None) -> TokenRule:
    return TokenRule(name, re.compile(pattern, flags),
                     re.compile(gates) if isinstance(gates, str) else gates, word_start, check)


def _assignment(prefix: str, keyword: str, secret: str) -> str:
    """detect-secrets' `build_assignment_regex` shape: `<prefix><keyword> = "<secret>"`."""
    return (rf"(?:(?<=\W)|^)\[?[\"']?(?:{prefix})(?:_|-|)(?:{keyword})[\"']?\]? *"
            rf"(?:=|:|:=|=>| +|::) *[\"']?(?P<secret>{secret})")


_KEYWORDS = ("ey", "wd", "ass", "oken")
_URL_RESERVED = re.escape(":/?#[]@!$&'()*+,;=")

RULES: tuple[TokenRule, ...] = (
    # OpenAI (and other `sk-` keys: Anthropic's sk-ant-, DeepSeek's ...), ephemeral keys
    _rule("sk-keys", r"sk-(?P<secret>[A-Za-z0-9_\-]{16,})", ("sk",), word_start=True),
    _rule("ek-keys", r"ek_(?P<secret>[A-Za-z0-9_\-]{16,})", ("k_",), word_start=True),
    # HTTP credentials anywhere in a text
    _rule("bearer-tokens", r"(?i:bearer)\s+(?P<secret>[A-Za-z0-9_\-.~+/=:]{8,})",
          ("earer",), word_start=True),
    _rule("basic-credentials", r"(?i:basic)\s+(?P<secret>[A-Za-z0-9+/]{6,}={0,2})",
          ("asic",), word_start=True, check=_basic_credentials),
    _rule("url-userinfo",
          rf"://(?P<secret>[^{_URL_RESERVED}\s]+:[^{_URL_RESERVED}\s]+)@", ("://",)),
    _rule("url-key-param",
          r"[?&](?:[A-Za-z0-9_.\-]*[-_.])?(?:api[-_]?key|apikey|key|token|secret|password|"
          r"passwd|pwd|auth|credentials?|signature|sig)=(?P<secret>[^&\s\"'#<>\\]+)",
          r"[?&][A-Za-z0-9_.\-]+=", flags=re.IGNORECASE),
    # source hosting
    _rule("github-token", r"(?:ghp|gho|ghu|ghs|ghr)_(?P<secret>[A-Za-z0-9_]{36,})",
          ("gh",)),
    _rule("github-token", r"github_pat_(?P<secret>[A-Za-z0-9_]{22,})", ("gh",)),
    _rule("gitlab-token",
          r"(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)"
          r"-(?P<secret>[A-Za-z0-9_\-]{20,})",
          ("gl",)),
    _rule("gitlab-token", r"GR1348941(?P<secret>[A-Za-z0-9_\-]{20,})", ("gr13",)),
    # cloud providers
    _rule("google-api-key", r"AIza(?P<secret>[0-9A-Za-z_\-]{35})", ("aiza",)),
    _rule("aws-access-key", r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)(?P<secret>[0-9A-Z]{16})",
          ("ia", "a3t", "ac")),
    _rule("aws-secret-key",
          r"(?i:aws).{0,20}?(?i:key|pwd|pw|password|pass|token).{0,20}?['\"]"
          r"(?P<secret>[0-9a-zA-Z/+]{40})['\"]", ("aws",)),
    _rule("azure-storage-key", r"AccountKey=(?P<secret>[a-zA-Z0-9+/=]{88})", ("ey",)),
    _rule("ibm-cloud-iam-key",
          _assignment(r"(?i:ibm(?:_|-|)cloud(?:_|-|)iam|cloud(?:_|-|)iam|ibm(?:_|-|)cloud|"
                      r"ibm(?:_|-|)iam|ibm|iam|cloud|)(?:_|-|)(?i:api|)",
                      r"(?i:key|pwd|password|pass|token)",
                      r"[a-zA-Z0-9_\-]{44}(?![a-zA-Z0-9_\-])"), _KEYWORDS),
    _rule("ibm-cos-hmac",
          _assignment(r"(?i:(?:ibm)?[-_]?cos[-_]?(?:hmac)?|)",
                      r"(?i:secret[-_]?(?:access)?[-_]?key)", r"[a-f0-9]{48}(?![a-f0-9])"),
          ("ey",)),
    _rule("softlayer-key",
          _assignment(r"(?i:softlayer|sl)(?:_|-|)(?i:api|)", r"(?i:key|pwd|password|pass|token)",
                      r"[a-z0-9]{64}"), _KEYWORDS),
    _rule("softlayer-key", r"(?i:https?://api\.softlayer\.com/soap/v3(?:\.1)?/)"
          r"(?P<secret>[a-z0-9]{64})", ("://",)),
    _rule("cloudant-key",
          _assignment(r"(?i:cloudant|cl|clou)", r"(?i:api|)(?i:key|pwd|pw|password|pass|token)",
                      r"[0-9a-f]{64}|[a-z]{24}"), _KEYWORDS),
    _rule("cloudant-key", r"(?i:https?://)[\w\-]+:(?P<secret>[0-9a-f]{64}|[a-z]{24})@[\w\-]+"
          r"\.(?i:cloudant\.com)", ("://",)),
    # chat and collaboration
    _rule("slack-token", r"xox(?:a|b|p|o|s|r)-(?P<secret>(?:\d+-)+[a-z0-9]+)",
          ("xo",), flags=re.IGNORECASE),
    _rule("slack-token", r"xox[a-z]-(?P<secret>[A-Za-z0-9-]{10,})", ("xo",)),
    _rule("slack-webhook", r"hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9+/_]{20,})",
          ("slack",)),
    _rule("discord-bot-token",
          r"[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}",
          r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}"),
    _rule("telegram-bot-token", r"\d{8,10}:(?P<secret>[0-9A-Za-z_-]{35})", r":[0-9A-Za-z_-]{35}"),
    # payments, mail, messaging
    _rule("stripe-key", r"(?:r|s)k_(?:live|test)_(?P<secret>[0-9a-zA-Z]{24,})",
          ("k_",)),
    _rule("square-oauth", r"sq0(?:csp|atp)-(?P<secret>[0-9A-Za-z\\\-_]{22,})", ("sq0",)),
    _rule("sendgrid-key", r"SG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}", ("sg.",)),
    _rule("mailchimp-key", r"[0-9a-z]{32}-us[0-9]{1,2}", ("-us",)),
    _rule("twilio-key", r"(?:AC|SK)[a-z0-9]{32}", ("ac", "sk")),
    # package registries, artifact stores
    _rule("npm-token", r"npm_(?P<secret>[A-Za-z0-9]{36})", ("npm_",)),
    _rule("npm-token", r"//[^\s\"']+/:_authToken=\s*(?P<secret>npm_[A-Za-z0-9]+|[A-Fa-f0-9-]{36})",
          ("oken",)),
    _rule("pypi-token", r"pypi-(?P<secret>AgE[A-Za-z0-9_-]{50,})", ("pypi-",)),
    _rule("artifactory-token", r"(?:\s|=|:|\"|^)AKC(?P<secret>[a-zA-Z0-9]{10,})(?=\s|\"|$)",
          ("akc",)),
    _rule("artifactory-token",
          r"(?:\s|=|:|\"|^)AP[\dABCDEF](?P<secret>[a-zA-Z0-9]{8,})(?=\s|\"|$)", ("ap",)),
    # JSON Web Tokens, private keys
    _rule("jwt", r"eyJ(?P<secret>[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+(?:\.[A-Za-z0-9_.+/=-]*)?)",
          ("ey",)),
    _rule("private-key", r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----"
          r"(?P<secret>(?:[A-Za-z0-9+/=\s]|\\[nr])*)", ("private",)),
    _rule("private-key", r"BEGIN (?:DSA|EC|OPENSSH|PGP|RSA|SSH2 ENCRYPTED) ?PRIVATE KEY"
          r"(?P<secret>)", ("private",)),
    _rule("private-key", r"PuTTY-User-Key-File-2", ("putty",)),
)


def _gate_table() -> tuple[tuple[tuple[str, tuple[TokenRule, ...]], ...],
                           tuple[TokenRule, ...]]:
    """(literal gate, the rules it opens) pairs, and the rules with a regex gate."""
    by_gate: dict[str, list[TokenRule]] = {}
    regex_gated: list[TokenRule] = []
    for rule in RULES:
        if isinstance(rule.gates, re.Pattern):
            regex_gated.append(rule)
            continue
        for gate in rule.gates:
            by_gate.setdefault(gate, []).append(rule)
    return tuple((g, tuple(r)) for g, r in by_gate.items()), tuple(regex_gated)


_GATES, _REGEX_GATED = _gate_table()


def gate_pattern(extra: tuple[str, ...] = ()) -> re.Pattern[str]:
    """One regex that finds, in a lower-cased text, any rule's gate (literal or regex) or
    one of the `extra` literals: a single pass over the text (as fast as a few `in` tests)."""
    literals = [re.escape(gate) for gate in (*extra, *(g for g, _ in _GATES))]
    regexes = [rule.gates.pattern for rule in _REGEX_GATED]  # type: ignore[union-attr]
    return re.compile("|".join([*literals, *regexes]))


_ANY_GATE = gate_pattern()


def has_gate(text: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether any rule could match `text` (a few dozen substring tests on it lower-cased):
    False means `redact_tokens` would return it unchanged. `extra`: more lower-case literals
    that make it true."""
    low = text.lower()
    for gate in extra:
        if gate in low:
            return True
    return _ANY_GATE.search(low) is not None


def _gated(text: str) -> list[TokenRule]:
    """The rules whose gates `text` passes, in catalogue order."""
    low = text.lower()
    opened: set[int] = set()
    for gate, rules in _GATES:
        if gate in low:
            opened.update(id(r) for r in rules)
    for rule in _REGEX_GATED:
        if rule.gates.search(text) is not None:  # type: ignore[union-attr]
            opened.add(id(rule))
    return [r for r in RULES if id(r) in opened] if opened else []


def _starts_word(text: str, at: int) -> bool:
    """No letter or digit right before `at`, or a JSON escape (`\\n`, `\\u000a`) is."""
    if at == 0 or not text[at - 1].isascii() or not text[at - 1].isalnum():
        return True
    if at >= 2 and text[at - 2] == "\\" and text[at - 1] in "nrtbf":
        return True
    return at >= 6 and text[at - 6:at - 4] == "\\u" and \
        all(c in "0123456789abcdefABCDEF" for c in text[at - 4:at])


def _matches(text: str) -> Iterator[tuple[TokenRule, int, int]]:
    """(rule, start, end) of each span to replace, in no particular order."""
    for rule in _gated(text):
        secret = "secret" in rule.pattern.groupindex
        for m in rule.pattern.finditer(text):
            whole = m.group(0)
            if PLACEHOLDER in whole:
                continue
            if rule.word_start and not _starts_word(text, m.start()):
                continue
            if rule.check is not None and not rule.check(whole):
                continue
            start, end = m.span("secret") if secret else m.span()
            if end > start or not secret:
                yield rule, start, end
            else:  # a marker with nothing after it (BEGIN ... PRIVATE KEY): the marker goes
                yield rule, m.start(), m.end()


def find_tokens(text: str) -> list[str]:
    """Names of the token families found in `text` (each once, in catalogue order)."""
    return list(dict.fromkeys(rule.name for rule, _, _ in _matches(text)))


def redact_tokens(text: str) -> tuple[str, list[str]]:
    """`text` with every token of the catalogue replaced, and the names of those found."""
    spans = sorted(((start, end, rule.name) for rule, start, end in _matches(text)))
    if not spans:
        return text, []
    out: list[str] = []
    pos = 0
    names: list[str] = []
    for start, end, name in spans:
        if start < pos:  # overlaps a span already replaced
            if end > pos:
                pos = end
            continue
        out += [text[pos:start], PLACEHOLDER]
        pos = end
        names.append(name)
    out.append(text[pos:])
    return "".join(out), list(dict.fromkeys(names))
