"""Fixtures of svc-idempotency's tests; helpers live in ``svc_idempotency_testkit.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from svc_idempotency_testkit import client, engine

__all__ = ["client", "engine"]
