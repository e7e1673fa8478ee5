"""Running one document's blocks in order, as a reader would: one working directory (with the
repository's `docs/` and reference cassettes), one shell environment (`export` persists), and
the servers the doc starts, each still running until the doc stops or replaces it.

How each block is run is described in tests/test_docs.py.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import runpy
import shlex
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.doc_blocks import ROOT, Block, Command, blocks, commands, matches, normalise
from tests.doc_servers import URL, WAIT, Server, is_server

__all__ = ["DocSession", "Failure"]

_PORT = re.compile(r"127\.0\.0\.1:(\d+)")
_CONSOLE = ("console", "bash", "shell", "sh")
_NOT_RUN = {"same-as", "run-by", "file", "fragment", "illustration", "output-of"}  # checked so
# the README's pyproject.toml: what a test module of the docs runs with
_CONFIG = "pyproject.toml"


_PLACEHOLDER_KEY = "sk-" + "placeholder-for-the-docs-test"  # no key-shaped literal in the repo
# rtkit is imported before pytester's in-process run loads it as a plugin, so pytest warns it
# cannot rewrite its asserts: an artefact of running pytest in this process, not of the docs
_IN_PROCESS = ("-W", "ignore::pytest.PytestAssertRewriteWarning")


class Failure(AssertionError):
    """A block did not do what its doc says."""


# What in-process pytest runs imported from outside the doc's directory (the libraries its tests
# use), kept loaded for the rest of this process as they would be in a process that imported
# them once: pytester unloads everything a run imported, and some extension modules abort the
# interpreter when imported a second time (pipecat's soxr does).
_KEPT: dict[str, ModuleType] = {}


def _reload_kept() -> None:
    """Put the modules in-process pytest runs imported back into sys.modules."""
    for name, module in _KEPT.items():
        sys.modules.setdefault(name, module)


class _KeepImports:
    """A plugin for an in-process pytest run: at its end, notes in _KEPT the modules it
    imported that do not come from the doc's directory (its tests, conftest, the doc's apps)."""

    def __init__(self, directory: Path) -> None:
        self.directory = os.path.realpath(directory) + os.sep
        self.before = set(sys.modules)

    def pytest_sessionfinish(self) -> None:
        for name, module in list(sys.modules.items()):
            where = getattr(module, "__file__", None)
            if name in self.before or (
                    where and os.path.realpath(where).startswith(self.directory)):
                continue
            _KEPT[name] = module


def _is_test_module(code: str) -> bool:
    tree = ast.parse(code)
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               and node.name.startswith("test_") for node in tree.body)


def _import_on_main_thread(source: str, name: str) -> None:
    """Run the top-level imports of a program; one that fails is left for the program itself
    to fail on, with its traceback."""
    try:
        tree = ast.parse(source, name)
    except SyntaxError:
        return  # the program reports it
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue  # a compiler directive, not an import
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            with contextlib.suppress(Exception):
                exec(compile(ast.Module(body=[node], type_ignores=[]), name, "exec"), {})


def _apply(env: dict[str, str], overrides: Mapping[str, str | None]) -> None:
    """Set each variable of `overrides` in `env`, or unset it where the value is None."""
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value


@contextlib.contextmanager
def _environ(overrides: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with `overrides` (None: unset), restored afterwards."""
    saved = {k: os.environ.get(k) for k in overrides}
    try:
        _apply(os.environ, overrides)  # type: ignore[arg-type]
        yield
    finally:
        _apply(os.environ, saved)  # type: ignore[arg-type]


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    """The working directory is `path` (contextlib.chdir is Python 3.11+)."""
    saved = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


class DocSession:
    """One document's working directory, environment and servers."""

    def __init__(self, doc: str, directory: Path,
                 pytester: Callable[[], pytest.Pytester]) -> None:
        self.doc = doc
        self.dir = directory
        self.blocks = blocks(doc)
        self.done = 0  # blocks run so far, in order
        self.failed: list[str] = []
        # the reader's shell: no key, no upstream (export adds to it)
        self.env: dict[str, str | None] = {"OPENAI_API_KEY": None, "RTKIT_UPSTREAM_URL": None,
                                           "COLUMNS": "80"}  # an 80-column terminal
        self.servers: list[Server] = []
        self.ports: dict[int, int] = {}  # a port the doc shows -> the port its server got
        self.holders: dict[int, Server] = {}  # a port the doc shows -> its server
        self.files: dict[str, str] = {}  # written from `file NAME` blocks
        self._pytester = pytester
        self._key_fake: Any = None
        # copies: whatever a doc's commands write stays out of the repository
        shutil.copytree(ROOT / "docs", directory / "docs")
        shutil.copytree(ROOT / "cassettes", directory / "cassettes",
                        ignore=shutil.ignore_patterns("__pycache__"))

    # -- running blocks in order -------------------------------------------------------------

    def run_through(self, index: int) -> None:
        """Run the blocks up to and including `index` that have not run yet."""
        while self.done <= index:
            block = self.blocks[self.done]
            self.done += 1
            try:
                self.run(block, self.done - 1)
            except Exception as exc:
                self.failed.append(block.id)
                if self.done - 1 == index:
                    raise
                raise Failure(f"{block.id} (run before {self.blocks[index].id}) failed: "
                              f"{exc}") from exc

    def run(self, block: Block, index: int) -> None:
        """Check one block, by its marker or else by its language."""
        _reload_kept()  # pytester unloaded them at the end of the last block's test
        marks = block.marks
        if "files" in marks:
            from tests.doc_drivers import provide

            for name in marks["files"]:
                provide(name, self.dir)
        handled = False
        if "same-as" in marks:
            self._same_as(block, marks["same-as"][0])
            handled = True
        if "run-by" in marks:
            self._run_by(block, marks["run-by"][0])
            handled = True
        if "file" in marks:
            self._check_parses(block)
            self.files[marks["file"][0]] = block.text
            self._write_files()
            handled = True
        if "fragment" in marks:
            self._fragment(block)
            handled = True
        if "illustration" in marks:
            if block.lang not in ("", "text"):
                raise Failure(f"{block.id}: an illustration is a block without a language, "
                              f"not ```{block.lang}")
            handled = True
        if "output-of" in marks:
            from tests.doc_drivers import OUTPUTS

            actual = OUTPUTS[marks["output-of"][0]](self)
            self.compare(block.text.splitlines(), actual, block.id)
            handled = True
        if handled:
            return
        if ("with" in marks or "exit" in marks) and block.lang not in _CONSOLE:
            raise Failure(f"{block.id}: `with` and `exit` are for console blocks")
        if "needs-key" in marks and block.lang not in (*_CONSOLE, "python"):
            raise Failure(f"{block.id}: `needs-key` is for console and python blocks")
        if block.lang == "python":
            self._python(block, index)
        elif block.lang == "text" and index > 0 and self._is_output(index):
            return  # the output of the python block before it, checked there
        elif block.lang in _CONSOLE:
            self._console(block)
        elif block.lang == "json":
            self._json(block)
        elif block.lang in ("yaml", "toml"):
            self._check_parses(block)
        else:
            raise Failure(f"{block.id}: a ```{block.lang} block the docs test cannot run: run "
                          "it (see tests/test_docs.py) or mark it <!-- doc-test: ... -->")

    def _is_output(self, index: int) -> bool:
        before = self.blocks[index - 1]
        return before.lang == "python" and not set(before.marks) & _NOT_RUN

    def close(self) -> list[str]:
        """Stop every server still running (SIGTERM); the problems found."""
        problems = []
        running = [server for server in self.servers if server.running]
        for server in running:  # all at once, so that they stop in parallel
            server.proc.send_signal(signal.SIGTERM)
        for server in running:
            try:
                self._stop(server, None, None, "at the end of the doc (SIGTERM)")
            except Failure as exc:
                problems.append(str(exc))
        if self._key_fake is not None:
            self._key_fake.__exit__(None, None, None)
        return problems

    def _stop(self, server: Server, sig: int | None, shown: list[str] | None, where: str,
              printed: list[str] | None = None) -> None:
        """Stop a server the doc started. What it printed since its URL (`printed`, already
        read, then the rest) must be what its block showed after the URL (if it did) followed
        by `shown` (what a `^C` block shows, if any); it must exit as the doc says."""
        code, rest = server.stop(sig)
        rest = [*(printed or []), *rest]
        if server.shown is not None or shown is not None:
            self.compare([*(server.shown or []), *(shown or [])], rest,
                         f"{where}: what `rtkit {' '.join(server.args)}` ({server.where}) "
                         "printed")
            server.shown = None
        if code != server.want_exit:
            raise Failure(f"{where}: `rtkit {' '.join(server.args)}` ({server.where}) exited "
                          f"{code}, not {server.want_exit}:\n" + "\n".join(rest))

    def kill(self) -> None:
        """After a failure: make sure nothing the doc started outlives the test."""
        for server in self.servers:
            server.kill()
        if self._key_fake is not None:
            with contextlib.suppress(Exception):
                self._key_fake.__exit__(None, None, None)
            self._key_fake = None

    # -- comparing -----------------------------------------------------------------------------

    def map_ports(self, text: str) -> str:
        """`text` with each port the doc shows replaced by the port its server got."""
        return _PORT.sub(lambda m: f"127.0.0.1:{self.ports.get(int(m.group(1)), m.group(1))}",
                         text)

    def _shown(self, lines: list[str], mapped: bool) -> list[str]:
        real = set(self.ports.values())
        text = "\n".join(lines)
        if mapped:
            text = self.map_ports(text)
        text = text.replace(f"{self.dir}{os.sep}", "")  # this run's own directory
        # a loopback port no server of the doc listens on: a client's, chosen by the system
        text = _PORT.sub(lambda m: m.group(0) if int(m.group(1)) in real
                         else "127.0.0.1:<port>", text)
        return normalise(text).split("\n") if text else []

    def compare(self, expected: list[str], actual: list[str], where: str) -> None:
        """Fail unless `actual` is what the doc shows (after the normalisation rules)."""
        exp, act = self._shown(expected, True), self._shown(actual, False)
        if not matches(exp, act):
            raise Failure(f"{where}: the doc shows\n" + "\n".join(exp)
                          + "\nbut the run printed\n" + "\n".join(act))

    # -- markers -----------------------------------------------------------------------------

    def _same_as(self, block: Block, other: str) -> None:
        path = ROOT / other
        if other.endswith(".md"):
            texts = [b.text for b in blocks(other) if b.lang == block.lang]
            if block.text not in texts:
                raise Failure(f"{block.id}: marked same-as {other}, but no ```{block.lang} "
                              f"block of {other} has this text")
        elif block.text != path.read_text(encoding="utf-8"):
            raise Failure(f"{block.id}: the block is not {other} as shipped")

    def _run_by(self, block: Block, script: str) -> None:
        lines = set((ROOT / script).read_text(encoding="utf-8").splitlines())
        missing = [line for line in block.text.splitlines() if line not in lines]
        if missing:
            raise Failure(f"{block.id}: {script} does not run {missing}")

    def _fragment(self, block: Block) -> None:
        """A fragment is not run, but it must parse and what it imports must exist."""
        if block.lang != "python":
            if block.lang not in ("js", "javascript", "ts", "typescript"):
                raise Failure(f"{block.id}: only python and JavaScript blocks are fragments")
            return
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
        try:
            tree = compile(block.text, block.id, "exec", flags=flags, dont_inherit=True)
        except SyntaxError as exc:
            raise Failure(f"{block.id}: the fragment is not valid Python: {exc}") from None
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        module = ast.Module(body=imports, type_ignores=[])
        exec(compile(module, block.id, "exec"), {"__name__": "doc_fragment"})

    def _check_parses(self, block: Block) -> None:
        if block.lang == "python":
            compile(block.text, block.id, "exec")
        elif block.lang == "yaml":
            yaml.safe_load(block.text)
        elif block.lang == "toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10: pytest reads it below
                return
            tomllib.loads(block.text)

    def _json(self, block: Block) -> None:
        """Each JSON value parses (`...` stands for fields left out) and, when it has a `kind`,
        is a cassette line rtkit reads."""
        from rtkit.cassette.reader import parse_line
        from rtkit.errors import CassetteError

        pending = ""
        for n, line in enumerate(block.text.splitlines(), start=block.line + 1):
            pending += line.replace(",...", "").replace("...", "")
            try:
                value = json.loads(pending)
            except json.JSONDecodeError:
                continue
            pending = ""
            if isinstance(value, dict) and "kind" in value:
                try:
                    parse_line(json.dumps(value, separators=(",", ":")), block.doc, n)
                except CassetteError as exc:
                    raise Failure(f"{block.id}: not a cassette line rtkit reads: {exc}") from None
        if pending.strip():
            raise Failure(f"{block.id}: not JSON: {pending[:200]}")

    # -- python ------------------------------------------------------------------------------

    def _python(self, block: Block, index: int) -> None:
        if _is_test_module(block.text):
            self._test_module(block)
            return
        after = self.blocks[index + 1] if index + 1 < len(self.blocks) else None
        expected = after.text.splitlines() if after and after.lang == "text" else []
        env = self._key_env() if "needs-key" in block.marks else {}
        code, out = self.run_python(self.map_ports(block.text), block.id, env=env)
        if code != 0:
            raise Failure(f"{block.id}: exited {code}:\n" + "\n".join(out))
        self.compare(expected, out, block.id)

    def run_python(self, code: str | Path, name: str, argv: list[str] | None = None,
                   env: Mapping[str, str | None] | None = None) -> tuple[int, list[str]]:
        """Run a program (source text, or a file as `python FILE` does) in this interpreter,
        on a thread of its own (it runs its own event loop) after its top-level imports ran on
        the main thread, as in `python FILE` (some libraries insist: livekit's plugins register
        themselves at import); its exit status and what it printed, stdout and stderr together
        as on a terminal."""
        out = io.StringIO()
        status: list[int] = []
        source = code.read_text(encoding="utf-8") if isinstance(code, Path) else code

        def main() -> None:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    if isinstance(code, Path):
                        sys.argv = [str(code), *(argv or [])]
                        runpy.run_path(str(code), run_name="__main__")
                    else:
                        exec(compile(code, name, "exec"), {"__name__": "__main__"})
                    status.append(0)
                except SystemExit as exc:
                    if isinstance(exc.code, str):
                        print(exc.code, file=sys.stderr)
                    status.append(exc.code if isinstance(exc.code, int) else
                                  0 if exc.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                    status.append(1)

        saved_argv = sys.argv
        with _environ({**self.env, **(env or {})}), _chdir(self.dir):
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                _import_on_main_thread(source, name)
            thread = threading.Thread(target=main, name=name, daemon=True)
            thread.start()
            thread.join(2 * WAIT)
        sys.argv = saved_argv
        if thread.is_alive():
            raise Failure(f"{name}: still running after {2 * WAIT:g} s")
        return status[0], out.getvalue().splitlines()

    def _test_module(self, block: Block) -> None:
        """A test module the doc shows: it passes under pytest with the docs' configuration,
        with pytest's and pytest-asyncio's deprecation warnings as errors."""
        pytester = self._pytester()
        if _CONFIG not in self.files:
            readme = next(b for b in blocks("README.md") if b.mark("file") == [_CONFIG])
            (self.dir / _CONFIG).write_text(readme.text)
        name = f"test_doc_{Path(block.doc).stem.replace('-', '_').lower()}_{block.line}.py"
        (self.dir / name).write_text(block.text)
        strict = ("-W", "error::pytest.PytestDeprecationWarning", "-W", "error::RuntimeWarning")
        with _environ(self.env), _chdir(self.dir):
            result = self._run_pytest(pytester, name, "-p", "no:cacheprovider", *strict)
        outcomes = result.parseoutcomes()
        if result.ret != 0 or not outcomes.get("passed") or set(outcomes) - {"passed"}:
            raise Failure(f"{block.id}: the test module does not pass:\n"
                          + "\n".join(result.outlines))

    # -- console -----------------------------------------------------------------------------

    def _console(self, block: Block) -> None:
        lead, found = commands(block.text)
        env = {**self.env, **(self._key_env() if "needs-key" in block.marks else {})}
        if "with" in block.marks and not any(
                shlex.split(c.line)[:1] == ["rtkit"] and is_server(shlex.split(c.line)[1:])
                for c in found):
            raise Failure(f"{block.id}: `with` a driver, but the block starts no server")
        if lead:
            self._stop_shown(block, lead)
        elif not found:
            raise Failure(f"{block.id}: a console block with no `$ ` command: mark it "
                          "output-of DRIVER")
        for command in found:
            self._command(block, command, env)

    def _stop_shown(self, block: Block, lead: list[str]) -> None:
        """Lines before the first command, with `^C`: the output of the server started last
        (still running), which is then stopped with SIGINT."""
        if "^C" not in lead:
            raise Failure(f"{block.id}: output with no command before it: show the command, "
                          "or `^C` to stop a server, or mark it output-of DRIVER")
        running = [s for s in self.servers if s.running]
        if not running:
            raise Failure(f"{block.id}: `^C` but no server of {self.doc} is running")
        server = running[-1]
        if block.mark("exit"):
            server.want_exit = int(block.marks["exit"][0])
        self._stop(server, signal.SIGINT, [line for line in lead if line != "^C"], block.id)

    def _command(self, block: Block, command: Command, block_env: dict[str, str | None]) -> None:
        where = f"{block.id}: `$ {command.line}`"
        words = shlex.split(command.line)
        background = bool(words) and words[-1] == "&"
        if background:
            words = words[:-1]
        env = dict(block_env)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = self.map_ports(value)
        if not words:
            raise Failure(f"{where}: nothing to run")
        program, args = words[0], words[1:]
        if program == "export":
            for word in args:
                key, _, value = word.partition("=")
                self._check_ports(value, where)
                block_env[key] = self.map_ports(value)
                if "needs-key" not in block.marks:
                    self.env[key] = self.map_ports(value)
            self._expect_nothing(command, where)
            return
        if program == "rtkit" and is_server(args):
            self._server(block, command, args, env, where)
            return
        if background:
            raise Failure(f"{where}: only servers run in the background here")
        for arg in args:
            self._check_ports(arg, where)
        args = [self.map_ports(arg) for arg in args]
        self._write_files()
        if program == "rtkit":
            code, out = self._rtkit(args, env)
        elif program == "python":
            if not args:
                raise Failure(f"{where}: `python` with no program")
            code, out = self.run_python(self.dir / args[0], where, args[1:], env)
        elif program == "pytest":
            code, out = self._pytest(args, env)
        elif program == "cp" and len(args) == 2:
            shutil.copy(self.dir / args[0], self.dir / args[1])
            code, out = 0, []
        else:
            raise Failure(f"{where}: the docs test does not run `{program}`: use rtkit, python, "
                          "pytest, export or cp, or mark the block")
        if code != command.exit_code:
            raise Failure(f"{where}: exited {code}, not {command.exit_code}:\n" + "\n".join(out))
        if command.stop is not None:
            raise Failure(f"{where}: `^C` after a command that is not a server")
        self.compare(command.output, out, where)

    def _expect_nothing(self, command: Command, where: str) -> None:
        if command.output or command.stop is not None:
            raise Failure(f"{where}: prints nothing, but the doc shows output")

    def _check_ports(self, text: str, where: str) -> None:
        for match in _PORT.finditer(text):
            if int(match.group(1)) not in self.ports and match.group(1) != "0":
                raise Failure(f"{where}: names 127.0.0.1:{match.group(1)}, where no server "
                              f"started by {self.doc} listens (start it first)")

    def _write_files(self) -> None:
        for name, text in self.files.items():
            (self.dir / name).write_text(self.map_ports(text), encoding="utf-8")

    def _rtkit(self, args: list[str], env: Mapping[str, str | None]) -> tuple[int, list[str]]:
        from rtkit.cli import main

        with _environ(env), _chdir(self.dir):
            # click's runner formats help 80 wide; on an 80-column terminal click uses 78
            result = CliRunner().invoke(main, args, prog_name="rtkit", terminal_width=78)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            raise Failure(f"`rtkit {' '.join(args)}` raised:\n{trace}")
        return result.exit_code, result.output.splitlines()

    def _pytest(self, args: list[str], env: Mapping[str, str | None]) -> tuple[int, list[str]]:
        pytester = self._pytester()
        paths = [a for a in args if not a.startswith("-")]
        if not any(p.startswith("docs") for p in paths):
            # the copy of docs/ is the repository's, not the reader's project: its example
            # apps' tests are not collected unless the command names them
            args = [*args, "--ignore=docs"]
        with _environ(env), _chdir(self.dir):
            result = self._run_pytest(pytester, *args)
        return int(result.ret), result.outlines

    def _run_pytest(self, pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
        """pytest ARGS in this process; what it imported from outside the doc stays loaded."""
        try:
            return pytester.runpytest_inprocess(*args, *_IN_PROCESS,
                                                plugins=[_KeepImports(self.dir)])
        finally:
            _reload_kept()

    def _server(self, block: Block, command: Command, args: list[str],
                env: Mapping[str, str | None], where: str) -> None:
        listen = args.index("--listen") + 1 if "--listen" in args else None
        doc_port: int | None = None
        if listen is not None and listen < len(args):
            found = _PORT.fullmatch(args[listen])
            if found:
                doc_port = int(found.group(1))
                holder = self.holders.pop(doc_port, None)
                if holder is not None and holder.running:  # the port is taken: stop it first
                    self._stop(holder, signal.SIGINT, None, f"{where} (port {doc_port})")
                args = [*args[:listen], "127.0.0.1:0", *args[listen + 1:]]
        for arg in args:
            self._check_ports(arg, where)
        args = [self.map_ports(arg) for arg in args]
        self._write_files()
        server_env = dict(os.environ)
        _apply(server_env, env)
        server = Server(args, self.dir, server_env)
        server.where = block.id
        server.want_exit = int((block.mark("exit") or [str(command.exit_code)])[0])
        self.servers.append(server)
        expected = list(command.output)
        first = server.start()
        shown = URL.match(expected[0]) if expected else None
        if shown and server.port is not None:
            self.ports[int(shown.group(1))] = server.port
            self.holders[int(shown.group(1))] = server
        elif doc_port is not None and server.port is not None:
            self.ports[doc_port] = server.port
            self.holders[doc_port] = server
        actual = [first] if first is not None else []
        if server.port is None:  # it did not start serving: it failed at once
            code, rest = server.wait()
            actual += rest
            if code != command.exit_code:
                raise Failure(f"{where}: exited {code}, not {command.exit_code}:\n"
                              + "\n".join(actual))
            self.compare(expected, actual, where)
            return
        self.compare(expected[:1], actual, where)  # the URL
        driven: list[str] = []
        driver = block.mark("with")
        if driver:
            from tests.doc_drivers import WITH

            driven = WITH[driver[0]](self, server)
        later = expected[1:]  # what it prints after its URL
        if command.stop is not None:  # stopped in this block: all of it is shown here
            server.shown = later
            self._stop(server, signal.SIGINT, command.stop, where, driven)
        elif driver:  # what the client made it print, now
            try:
                driven += server.lines(len(later) - len(driven))
            except AssertionError as exc:
                raise Failure(f"{where}: the doc shows {len(later)} lines after the URL, the "
                              f"server printed:\n" + "\n".join(driven) + f"\n({exc})") from None
            self.compare(later, driven, where)
        elif later:  # printed as later blocks use it: checked when it stops
            server.shown = later

    def _key_env(self) -> dict[str, str | None]:
        """What a needs-key block gets: the fake as its upstream, and a placeholder key."""
        return {"RTKIT_UPSTREAM_URL": self._fake_for_key().url,
                "OPENAI_API_KEY": _PLACEHOLDER_KEY}

    def _fake_for_key(self) -> Any:
        """The stand-in for the live API that needs-key blocks record from."""
        if self._key_fake is None:
            from rtkit.fake import FakeRealtimeAPI

            self._key_fake = FakeRealtimeAPI(ROOT / "docs" / "examples" / "replies.yaml")
            self._key_fake.__enter__()
        return self._key_fake
