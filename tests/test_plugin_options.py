"""The plugin's wiring without servers: options, markers, naming, precedence, record-mode plans."""

from __future__ import annotations

import pytest

from rtkit.pytest.keys import find_api_key, read_dotenv
from rtkit.pytest.naming import default_cassette_name
from rtkit.pytest.options import parse_pace, resolve_options
from rtkit.record_mode import MissingCassetteError, RecordMode, plan, resolve_record_mode

SHOW = """
import pytest

def show(rt_cassette, rt_record_mode, rt_cassette_name):
    rel = rt_cassette.path.relative_to(rt_cassette.path.parents[2])
    print(f"\\nRT {rt_cassette_name} | {rt_record_mode} | {rel.as_posix()}")
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )


def _shown(result: pytest.RunResult) -> list[str]:
    return [line[3:] for line in result.outlines if line.startswith("RT ")]


def test_registered_options_and_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--rt-record-mode=*", "*--rt-pace=*"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.rtkit(*"])


def test_strict_markers_and_no_warnings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.rtkit(record_mode="once")
        def test_sync(rt_record_mode):
            assert rt_record_mode == "once"

        @pytest.mark.rtkit
        async def test_async(rt_record_mode):
            assert rt_record_mode == "none"
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-W", "error")
    result.assert_outcomes(passed=2)


def test_naming_classes_and_params(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_names=SHOW
        + """
pytestmark = pytest.mark.rtkit(record_mode="once")

def test_plain(rt_cassette, rt_record_mode, rt_cassette_name):
    show(rt_cassette, rt_record_mode, rt_cassette_name)

@pytest.mark.parametrize("city", ["Paris", "a/b:c"])
def test_param(city, rt_cassette, rt_record_mode, rt_cassette_name):
    show(rt_cassette, rt_record_mode, rt_cassette_name)

class TestGroup:
    def test_method(self, rt_cassette, rt_record_mode, rt_cassette_name):
        show(rt_cassette, rt_record_mode, rt_cassette_name)

@pytest.mark.rtkit(cassette="shared/custom")
def test_custom(rt_cassette, rt_record_mode, rt_cassette_name):
    show(rt_cassette, rt_record_mode, rt_cassette_name)
"""
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=5)
    assert _shown(result) == [
        "test_plain | once | cassettes/test_names/test_plain.jsonl",
        "test_param[Paris] | once | cassettes/test_names/test_param[Paris].jsonl",
        "test_param[a-b-c] | once | cassettes/test_names/test_param[a-b-c].jsonl",
        "TestGroup.test_method | once | cassettes/test_names/TestGroup.test_method.jsonl",
        "shared/custom | once | test_names/shared/custom.jsonl",
    ]


def test_precedence_cli_over_marker_over_config(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_prec=SHOW
        + """
@pytest.fixture
def rt_config():
    return {"record_mode": "all"}

def test_config(rt_cassette, rt_record_mode, rt_cassette_name):
    show(rt_cassette, rt_record_mode, rt_cassette_name)

@pytest.mark.rtkit(record_mode="rewrite")
def test_marker(rt_cassette, rt_record_mode, rt_cassette_name):
    show(rt_cassette, rt_record_mode, rt_cassette_name)

class TestOverride:
    @pytest.fixture
    def rt_config(self):
        return {"record_mode": "new_episodes"}

    def test_class_config(self, rt_cassette, rt_record_mode, rt_cassette_name):
        show(rt_cassette, rt_record_mode, rt_cassette_name)
"""
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=3)
    assert [s.split(" | ")[1] for s in _shown(result)] == ["all", "rewrite", "new_episodes"]
    result = pytester.runpytest("-s", "--rt-record-mode=once")
    assert [s.split(" | ")[1] for s in _shown(result)] == ["once"] * 3


def test_cassette_dir_fixture_override(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_dir="""
        import pytest

        @pytest.fixture(scope="module")
        def rt_cassette_dir(tmp_path_factory):
            return str(tmp_path_factory.mktemp("elsewhere"))

        @pytest.mark.rtkit(record_mode="once")
        def test_it(rt_cassette, rt_cassette_dir):
            assert str(rt_cassette.path) == rt_cassette_dir + "/test_it.jsonl"
            assert rt_cassette.http_path.name == "test_it.http.yaml"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_missing_cassette_in_none_mode_says_how_to_record(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_missing="""
        import pytest

        @pytest.mark.rtkit
        def test_replay(rt_server):
            pass

        @pytest.mark.rtkit
        @pytest.mark.parametrize("city", ["Paris FR"])
        def test_param(rt_server, city):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*no cassette at *cassettes/test_missing/test_replay.jsonl and record mode is 'none'*",
            "    pytest --rt-record-mode=once test_missing.py::test_replay",
            "*no cassette at *cassettes/test_missing/test_param[[]Paris FR].jsonl*",
            "    pytest --rt-record-mode=once 'test_missing.py::test_param[[]Paris FR]'",
        ]
    )
    assert "<this test>" not in result.stdout.str()


def test_record_mode_without_key_fails_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytester.makepyfile(
        test_nokey="""
        import pytest

        @pytest.mark.rtkit(record_mode="once")
        def test_record(rt_server):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*record mode 'once' needs OPENAI_API_KEY*", "*Set OPENAI_API_KEY*"]
    )
    assert not (pytester.path / "cassettes" / "test_nokey" / "test_record.jsonl").exists()


def test_bad_options_fail_readably(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.rtkit(record_mode="sometimes")
        def test_mode(rt_record_mode):
            pass

        @pytest.mark.rtkit(colour="blue")
        def test_key(rt_record_mode):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*invalid record mode 'sometimes' from the marker*", "*unknown rtkit option(s)*colour*"]
    )


# --------------------------------------------------------------------------- unit level


def test_resolve_record_mode() -> None:
    assert resolve_record_mode() is RecordMode.NONE
    assert resolve_record_mode(None, "once", "all") is RecordMode.ONCE
    assert resolve_record_mode("rewrite", "once", "all") is RecordMode.REWRITE
    assert resolve_record_mode(None, None, "all") is RecordMode.ALL


@pytest.mark.parametrize(
    ("mode", "exists", "replay", "record", "keep", "delete"),
    [
        ("once", False, False, True, False, False),
        ("once", True, True, False, False, False),
        ("new_episodes", False, False, True, False, False),
        ("new_episodes", True, True, True, True, False),
        ("all", True, False, True, True, False),
        ("rewrite", True, False, True, False, True),
        ("none", True, True, False, False, False),
    ],
)
def test_plans(
    mode: str, exists: bool, replay: bool, record: bool, keep: bool, delete: bool
) -> None:
    p = plan(mode, exists)
    assert (p.replay, p.record, p.keep_existing, p.delete_first) == (replay, record, keep, delete)


def test_plan_none_without_cassette() -> None:
    with pytest.raises(MissingCassetteError, match="--rt-record-mode=once"):
        plan("none", False, "x.jsonl")


def test_options_upstream_and_pace() -> None:
    class Mark:
        def __init__(self, **kwargs):
            self.args, self.kwargs = (), kwargs

    opts = resolve_options({"pace": 2, "upstream_url": "ws://cfg"}, [], environ={})
    assert (opts.pace, opts.upstream_url) == (2.0, "ws://cfg")
    opts = resolve_options({"upstream_url": "ws://cfg"}, [Mark(upstream_url="ws://m")], environ={})
    assert opts.upstream_url == "ws://m"
    env = {"RTKIT_UPSTREAM_URL": "ws://env"}
    opts = resolve_options({}, [Mark(upstream_url="ws://m")], cli_pace="recorded", environ=env)
    assert (opts.upstream_url, opts.pace) == ("ws://env", "recorded")
    assert resolve_options({}, [], environ={}).upstream_url == "wss://api.openai.com/v1/realtime"
    assert parse_pace("0.5x") == 0.5
    with pytest.raises(ValueError, match="speed factor"):
        parse_pace("fast")


def test_dotenv(tmp_path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport OPENAI_API_KEY='sk-from-dotenv'\nOTHER=1 # trailing\n"
    )
    assert read_dotenv(tmp_path / ".env") == {"OPENAI_API_KEY": "sk-from-dotenv", "OTHER": "1"}
    assert find_api_key([tmp_path], environ={}) == "sk-from-dotenv"
    assert find_api_key([tmp_path], environ={"OPENAI_API_KEY": "sk-env"}) == "sk-env"
    assert find_api_key([tmp_path / "nowhere"], environ={}) is None


def test_long_names_are_hashed() -> None:
    name = default_cassette_name(None, "test_" + "x" * 400)
    assert len(name) < 255 and "..." in name
    assert default_cassette_name(None, 'test_q["a<b>"]') == "test_q[-a-b--]"
