"""The logic behind rtkit's pytest plugin (`rtkit.pytest_plugin` only wires it to pytest).
Only `call` imports pytest: `rtkit.use_cassette` runs the rest outside pytest.

- `options`: option resolution (command line over marker over `rt_config`),
- `naming`: cassette names and paths, sanitised like pytest-recording's,
- `keys`: the API key (environment or a `.env` file),
- `ioloop`: the background event loop hosting replay servers and recording proxies,
- `network`: loopback checks; the allowance under pytest-recording's `--block-network`,
- `cassette`: the `rt_cassette` object,
- `redaction`: one redaction pipeline from the options (and its use during replay),
- `http`: the vcrpy cassette for the HTTP side, through the same pipeline and leak scan,
- `session`: one test's cassette, server, HTTP recorder and interception (`rt_server`,
  `use_cassette`),
- `router`: `new_episodes`' front (replay old connections, record new ones),
- `failfast`: stopping a test at once at a replay mismatch,
- `call`: what runs around the test function (fail-fast, the loop check, the report).
"""

from __future__ import annotations

from rtkit.pytest.cassette import RtCassette
from rtkit.pytest.options import RtOptions
from rtkit.pytest.session import RtSession

__all__ = ["RtCassette", "RtOptions", "RtSession"]
