"""Runs `nereid perf` for the benchmark scripts and returns its JSON levels."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from server_fixture import nereid_binary  # noqa: E402


def run_perf(model, protocol, target, levels, seconds, warmup_ms, extra=(), request_timeout_s=30):
    """`nereid perf -m model` at each concurrency level; one JSON object per
    level. Every level must finish without errors."""
    fd, path = tempfile.mkstemp(prefix="nereid_perf_", suffix=".json")
    os.close(fd)
    try:
        cmd = [nereid_binary(), "perf", "-m", model, "-i", protocol, "-u", target,
               "--concurrency-range", ",".join(map(str, levels)),
               "-p", str(max(1, int(seconds * 1000))), "--warmup-ms", str(warmup_ms),
               "--timeout-ms", str(int(request_timeout_s * 1000)), "-f", path, *extra]
        # Bounded: each level ends within its warm-up, its window and the
        # request timeout.
        limit = len(levels) * (seconds + warmup_ms / 1000 + request_timeout_s) + 60
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=limit)
        with open(path) as f:
            out = json.load(f)
    finally:
        os.unlink(path)
    for level in out:
        assert level["errors"] == 0, level["first_error"]
    return out
