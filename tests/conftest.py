"""Shared test set-up: the repository root on sys.path, so tests can import
`cassettes.make_reference` (the scenarios behind the reference cassettes) and
`tests.scripted_server`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
