"""What the benchmark scripts share: percentiles and latencies read off the hub's jobs."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.databases import FALLBACK_SERVER, PostgresServer
from tests.e2e.harness import free_port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_ms(job: dict[str, Any]) -> float:
    """Submit -> finished, in ms, from the hub's own timestamps (one clock)."""
    created = datetime.fromisoformat(job["created_at"]).timestamp()
    return (datetime.fromisoformat(job["finished_at"]).timestamp() - created) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(
    process: subprocess.Popen[bytes] | None, prefix: str | None, setup: str
) -> subprocess.Popen[bytes] | None:
    """py-spy sampling `process` (raw format, PREFIX-SETUP.txt) until sent SIGINT; nothing
    without a prefix (the scripts' `--profile PREFIX`)."""
    if prefix is None or process is None:
        return None
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "-p",
            str(process.pid),
            "-f",
            "raw",
            "-r",
            "200",
            "-o",
            f"{prefix}-{setup}.txt",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_profile(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait()


def setups_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark of the single-node setups shares."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setups", default="sqlite,pg")
    parser.add_argument("--postgres", default=FALLBACK_SERVER)
    parser.add_argument("--profile", help="py-spy raw output to PREFIX-SETUP.txt (round 1)")
    return parser


def each_setup(args: argparse.Namespace, run: Callable[[str, str, Path], None]) -> None:
    """`run(setup, database_url, tmp)` for each of `--setups`: "sqlite" (database_url "":
    the hub's own SQLite in its data dir) and "pg" (a fresh PostgreSQL database)."""
    with tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups.split(","):
            if setup == "sqlite":
                run(setup, "", Path(tmp))
                continue
            server = PostgresServer(args.postgres)
            try:
                server.connect()
                with server.database() as url:
                    run(setup, url, Path(tmp))
            finally:
                server.close()


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/PID/status, in KiB: VmRSS (resident now), VmHWM (peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for {pid}")


@contextlib.contextmanager
def echo_server() -> Iterator[tuple[int, int]]:
    """(port, pid) of a bare `websockets` echo server (bench/echo_server.py), up until the
    block ends: the ceiling and baseline the hub's socket figures are read against."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("echo_server.py")), str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "ready"
        yield port, server.pid
    finally:
        server.terminate()
        server.wait()


def downloaded_bytes(url: str, api_key: str) -> int:
    """Bytes of a GET with the API key, read to the end as it streams."""
    size = 0
    with httpx.stream(
        "GET", url, headers={"Authorization": f"Bearer {api_key}"}, timeout=600
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
    return size
