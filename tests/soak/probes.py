"""Issue 12's fault and bad-input probes, each mapped to the tests that cover it, and a way to
run them repeatedly: every probe's tests in one pytest process per round, outcomes read from
its JUnit XML. A probe held in a round when all its tests passed (a skipped test, such as the
tmpfs one without root, counts as neither: see `skipped`).

The default `pytest` run runs each of these tests once; `python -m tests.soak --probe-runs R`
runs them R times more. docs/reliability.md has the same table, with what each probe keeps
and reports (tests/test_soak_matrix.py checks the two agree)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PROBES", "Probe", "ProbeResult", "run_probes"]

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Probe:
    """A probe of `rtkit record` (the proxy) or `rtkit serve`, and its tests' node ids."""

    name: str
    side: str  # "record" or "serve"
    tests: tuple[str, ...]


def _p(name: str, side: str, *tests: str) -> Probe:
    return Probe(name, side, tests)


PF = "tests/test_proxy_faults.py::"
CF = "tests/test_cli_record_faults.py::"
SB = "tests/test_serve_bad_input.py::"
RS = "tests/test_record_secrets.py::"

PROBES: list[Probe] = [
    # faults of the recorder
    _p("upstream closes mid-response", "record",
       PF + "test_an_upstream_that_drops_mid_response_is_dropped_downstream",
       "tests/test_record_replay_e2e.py::test_upstream_drop_mid_response_still_writes_the_episode"),
    _p("upstream refuses the connection (502)", "record",
       CF + "test_an_unreachable_upstream_is_a_502_and_the_command_exits_1"),
    _p("upstream never answers the handshake (504)", "record",
       PF + "test_an_upstream_that_never_answers_the_handshake_is_a_504"),
    _p("upstream 401", "record",
       CF + "test_an_upstream_401_reaches_the_client_and_the_command_exits_1"),
    _p("upstream error + close 3000", "record",
       PF + "test_an_upstream_error_and_close_3000_reach_the_client"),
    _p("recorded error + close 3000 replayed", "serve",
       "tests/test_record_replay_e2e.py::test_upstream_refusals_reach_the_client_unchanged"),
    _p("client drops TCP mid-frame", "record",
       PF + "test_a_client_that_drops_tcp_mid_frame_leaves_a_complete_episode"),
    _p("client drops TCP mid-frame", "serve",
       "tests/test_serve_client_drop.py::"
       "test_a_client_that_drops_tcp_mid_frame_is_logged_and_others_are_served"),
    _p("client never reads (backpressure)", "record",
       PF + "test_a_client_that_never_reads_holds_back_only_its_own_upstream"),
    _p("client never reads (backpressure)", "serve",
       "tests/test_replay_server_shell.py::"
       "test_a_client_that_stops_reading_is_dropped_after_the_timeout",
       "tests/test_serve_console.py::test_a_client_that_never_reads_is_dropped_and_max_connections_ends"),
    _p("SIGINT / SIGTERM mid-session", "record",
       CF + "test_a_signal_mid_session_closes_with_1001_and_keeps_everything[SIGINT]",
       CF + "test_a_signal_mid_session_closes_with_1001_and_keeps_everything[SIGTERM]"),
    _p("SIGKILL mid-session", "record",
       "tests/test_recover.py::test_rtkit_record_killed_mid_session_is_recovered",
       "tests/test_record_killed_keeps_previous.py::"
       "test_sigkill_mid_session_leaves_the_previous_cassette_intact"),
    _p("disk full", "record",
       PF + "test_a_full_disk_stops_recording_not_relaying[tmpfs]",
       PF + "test_a_full_disk_stops_recording_not_relaying[injected]",
       CF + "test_a_full_disk_keeps_the_session_and_what_was_written_and_exits_1"),
    _p("read-only target", "record",
       CF + "test_a_read_only_output_directory_is_refused_before_listening"),
    _p("concurrent writers on one cassette", "record",
       "tests/test_cassette_lock.py::test_two_rtkit_record_processes_on_one_path"),
    # bad input
    _p("non-JSON text", "record", PF + "test_bad_text_is_relayed_exactly_and_recorded[not-json]"),
    _p("non-JSON text", "serve", SB + "test_non_json"),
    _p("JSON that is not an object", "record",
       PF + "test_bad_text_is_relayed_exactly_and_recorded[json-not-an-object]"),
    _p("JSON that is not an object", "serve", SB + "test_json_that_is_not_an_object"),
    _p("missing / non-string type", "record",
       PF + "test_bad_text_is_relayed_exactly_and_recorded[no-type]",
       PF + "test_bad_text_is_relayed_exactly_and_recorded[type-not-a-string]"),
    _p("missing type", "serve", SB + "test_missing_type"),
    _p("deeply nested JSON", "record",
       PF + "test_bad_text_is_relayed_exactly_and_recorded[deeply-nested]"),
    _p("deeply nested JSON", "serve", SB + "test_deeply_nested_json"),
    _p("binary and invalid UTF-8 frames", "record",
       PF + "test_binary_and_invalid_utf8_frames_are_relayed_and_recorded"),
    _p("binary frame", "serve", SB + "test_binary_frame"),
    _p("invalid UTF-8", "serve", SB + "test_invalid_utf8_is_refused_with_1007"),
    _p("20 MB frame, fragmented message", "record",
       PF + "test_a_20_mb_frame_and_a_fragmented_message_pass_whole"),
    _p("20 MB frame", "serve", SB + "test_a_20_mb_frame"),
    _p("fragmented frames", "serve", SB + "test_fragmented_frames_are_one_message"),
    _p("ping flood", "record",
       PF + "test_a_ping_flood_is_answered_by_the_upstream_and_not_recorded"),
    _p("ping flood", "serve", SB + "test_ping_flood"),
    _p("HTTP request without upgrade, garbage", "record",
       "tests/test_proxy_relay.py::"
       "test_a_request_that_is_not_a_websocket_handshake_is_refused_without_upstream",
       PF + "test_garbage_instead_of_a_handshake_is_answered_400_and_not_recorded"),
    _p("HTTP request without upgrade", "serve",
       SB + "test_http_request_without_upgrade_uses_no_episode",
       "tests/test_replay_server_shell.py::test_a_plain_get_uses_no_episode_and_gets_426"),
    _p("wrong path", "record", CF + "test_a_wrong_path_gets_the_upstreams_own_404"),
    _p("wrong path", "serve", SB + "test_wrong_path_is_404_and_uses_no_episode"),
    _p("50 concurrent clients", "record",
       PF + "test_fifty_concurrent_clients_each_get_their_own_session"),
    _p("50 concurrent clients", "serve",
       SB + "test_fifty_concurrent_clients_each_get_their_own_session"),
    # issue 21: secrets, whatever carries them; nothing lost, nothing grows
    _p("MCP credentials, tokens, binary / non-UTF-8 frames, path, headers, close reasons",
       "record", RS + "test_structure_catalogue_binary_path_headers_and_close_reasons"),
    _p("Azure query and header auth, URL userinfo, the refusal line", "record",
       RS + "test_azure_query_and_header_auth_userinfo_and_the_refusal_line",
       RS + "test_the_form_of_the_upstream_key"),
    _p("a refusal to write keeps a 0600 leftover for scrub and recover", "record",
       RS + "test_a_refusal_keeps_a_leftover_that_scrub_cleans_and_recover_finishes"),
    _p("a query key and MCP credentials in both cassettes", "pytest plugin",
       "tests/test_plugin_redaction.py::test_a_query_key_and_mcp_credentials_in_both_cassettes"),
    _p("secrets in mismatch reports and connection lines", "serve",
       "tests/test_serve_console_secrets.py::test_reports_and_connection_lines_are_redacted"),
    _p("4,000 sequential connections (300 here)", "record",
       "tests/test_record_memory.py::test_rss_is_flat_over_sequential_connections",
       "tests/test_record_memory.py::test_an_ended_connection_keeps_nothing_alive"),
    _p("permessage-deflate bomb", "fake",
       "tests/test_fake_hostile_input.py::test_a_deflate_bomb_is_refused_without_inflating_it"),
    _p("deeply nested JSON", "fake",
       "tests/test_fake_hostile_input.py::"
       "test_deeply_nested_json_is_invalid_json_and_the_session_goes_on"),
    _p("SIGKILL of a rewrite over an existing cassette", "pytest plugin",
       "tests/test_plugin_rewrite_killed.py::test_a_killed_rewrite_keeps_the_previous_cassette"),
    _p("a client half-closes after its close frame", "record",
       "tests/test_proxy_half_close.py::test_a_half_closing_client_gets_the_close_reply"),
    _p("fuzzed cassettes", "inspect / diff / audio / validate / scrub",
       "tests/test_cli_fuzzed_cassettes.py::"
       "test_mutated_cassettes_get_an_error_never_a_traceback[ga-audio_turn]",
       "tests/test_cli_fuzzed_cassettes.py::"
       "test_mutated_cassettes_get_an_error_never_a_traceback[beta-tool_call]"),
]


@dataclass
class ProbeResult:
    """A probe over the rounds: how many it ran in, held in, and was skipped in."""

    probe: Probe
    runs: int = 0
    held: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


def _outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """node id -> ("passed" | "failed" | "skipped", message) from a JUnit XML report."""
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        node = f"{module}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", (child.get("message") or "")[:300]
            elif child.tag == "skipped":
                outcome, message = "skipped", child.get("message") or ""
        out[node] = (outcome, message)
    return out


def run_probes(rounds: int, probes: list[Probe] | None = None, timeout: float = 900
               ) -> list[ProbeResult]:
    """Run every probe's tests `rounds` times (one pytest process a round)."""
    probes = PROBES if probes is None else probes
    results = [ProbeResult(p) for p in probes]
    nodes = sorted({t for p in probes for t in p.tests})
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            junit = Path(tmp) / "junit.xml"
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            f"--junitxml={junit}", "-o", "junit_family=xunit2", *nodes],
                           cwd=ROOT, capture_output=True, timeout=timeout)
            outcomes = _outcomes(junit) if junit.exists() else {}
        for result in results:
            got = {t: outcomes.get(t, ("failed", "not run")) for t in result.probe.tests}
            ran = [(t, o) for t, o in got.items() if o[0] != "skipped"]
            if not ran:
                result.skipped += 1
                continue
            result.runs += 1
            failed = [f"{t}: {o[1]}" for t, o in ran if o[0] != "passed"]
            result.held += not failed
            result.failures += failed
    return results
