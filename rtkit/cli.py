"""The `rtkit` command line. Each command lives in its own module under `rtkit.commands`."""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import click

__all__ = ["main"]

# command name -> module in rtkit.commands that defines a click command called `command`
COMMANDS = {
    "record": "record",
    "serve": "serve",
    "inspect": "inspect",
    "validate": "validate",
    "diff": "diff",
    "scrub": "scrub",
    "audio": "audio",
    "recover": "recover",
    "fake": "fake",
    "view": "view",
}


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps `rtkit --help` fast).

    Every failure, click's own usage errors included, is reported in one style:
    `rtkit: error: <message>` on stderr (after the usage line for a usage error), exit 2.
    """

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if exc.ctx is not None:
                hint = f"Try '{exc.ctx.command_path} --help' for help."
                click.echo(f"{exc.ctx.get_usage()}\n{hint}\n", err=True)
            _error(exc.format_message(), exc.exit_code)
        except click.ClickException as exc:
            _error(exc.format_message(), exc.exit_code)
        except click.Abort:
            _error("aborted", 130)
        sys.exit(result if isinstance(result, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if self._load(n) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(f"rtkit.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"rtkit.commands.{module_name}":
                return None  # not built yet
            raise
        return module.command


def _error(message: str, code: int) -> NoReturn:
    click.echo(f"rtkit: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtkit")
def main() -> None:
    """rtkit: record and replay OpenAI Realtime API sessions for testing.

    Exit codes: 0 success; 1 a check failed (a replay mismatch, a validation
    problem, a difference, an upstream refusal); 2 a usage error (a bad option,
    a missing file, a corrupt one except for validate). Each command's --help
    says which; the table: docs/cli.md.
    """
