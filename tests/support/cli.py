"""The `lossledger` console script of this environment, run as a user runs it."""

from __future__ import annotations

import sys
from pathlib import Path

LOSSLEDGER = str(Path(sys.executable).parent / "lossledger")
