"""The no-op job of ``jobs_bench.py`` for svc-jobs' worker (``--app jobs_bench_jobs``).

Reuses the counting of ../shared/bench/queue_jobs.py (BENCH_N / BENCH_DONE / BENCH_READY);
BENCH_QUEUE=svc_jobs keeps that module from building a taskiq or arq broker.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ.get("BENCH_SHARED", "/work/shared/bench"))
os.environ.setdefault("BENCH_QUEUE", "svc_jobs")

import queue_jobs

from svc_jobs import job


@job("bench.noop", max_attempts=1)
async def noop() -> None:
    """Count this job; the N-th writes the done file."""
    queue_jobs.mark()


queue_jobs.touch_ready()
