"""Issue 12's soak and fault matrix: `python -m tests.soak` (see docs/reliability.md).

`clients` (the SDK, rtkit's client, raw websockets, node `ws`), `upstream` (the fake API keeping
every frame), `matrix` (sessions through `rtkit record` then `rtkit serve`, checked frame by
frame), `probes` (the fault and bad-input probes and their tests)."""
