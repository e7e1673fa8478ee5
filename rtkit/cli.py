"""The `rtkit` command line. Each command lives in its own module under `rtkit.commands`."""

from __future__ import annotations

import importlib

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
}


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps `rtkit --help` fast)."""

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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtkit")
def main() -> None:
    """rtkit: record and replay OpenAI Realtime API sessions for testing.

    Exit codes: 0 success, 1 a check failed (mismatch, validation problem, difference),
    2 usage error (bad option, missing or corrupt file).
    """
