"""How fast the hub notices plugin processes come and go, with real processes.

    .venv/bin/python bench/liveness.py [--heartbeat 0.5] [--rounds 5] [--baseline-rounds 1]

Prints, per event, the median and worst of --rounds measurements: start -> live,
kill -9 -> not live, SIGSTOP -> not live (in heartbeat intervals too), and hub restart ->
the plugin live again (with PLUGIN_RECONNECT_MAX_DELAY=1).

Then failover with the hub's default settings (heartbeat 5 s, lease 30 s, reconnect grace
2 s): two plugin processes, a long job accepted by one, `kill -9` of that one -> the job
accepted again by the other. The baseline, measured in the same run, is the same with
HUB_RECONNECT_GRACE equal to the lease: how the hub behaved before the grace existed.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import HubProcess, PluginProcess, wait_until  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--baseline-rounds",
        type=int,
        default=1,
        help="failover rounds with the grace as long as the lease (about 30 s each)",
    )
    args = parser.parse_args()
    results: dict[str, list[float]] = {"live": [], "kill": [], "freeze": [], "restart": []}
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(
            Path(tmp) / "hub",
            database_url="",
            env={"HUB_HEARTBEAT_INTERVAL": str(args.heartbeat), "HUB_LOG_LEVEL": "WARNING"},
        )
        hub.data_dir.mkdir(parents=True)
        hub.create_admin()
        hub.start()
        plugin_id, secret = hub.create_plugin("echo")

        def start() -> PluginProcess:
            return PluginProcess(
                "echo",
                hub=hub,
                plugin_id=plugin_id,
                secret=secret,
                env={"PLUGIN_RECONNECT_MAX_DELAY": "1"},
            ).start()

        try:
            for _ in range(args.rounds):
                plugin = start()
                results["live"].append(wait_until(lambda: hub.is_live(plugin_id), 10, 0.005))
                plugin.signal(signal.SIGKILL)
                results["kill"].append(wait_until(lambda: not hub.is_live(plugin_id), 10, 0.005))
                plugin.wait()
                plugin = start()
                wait_until(lambda: hub.is_live(plugin_id), 10)
                time.sleep(args.heartbeat * 1.3)  # freeze at an arbitrary point of the cycle
                plugin.signal(signal.SIGSTOP)
                results["freeze"].append(wait_until(lambda: not hub.is_live(plugin_id), 10, 0.005))
                plugin.signal(signal.SIGCONT)
                wait_until(lambda: hub.is_live(plugin_id), 10)
                hub.stop(signal.SIGKILL)
                hub.start()
                results["restart"].append(wait_until(lambda: hub.is_live(plugin_id), 10, 0.005))
                plugin.stop()
                wait_until(lambda: not hub.is_live(plugin_id), 10)
        finally:
            hub.stop()

    failover = measure_failover(args.rounds, grace=None)
    baseline = measure_failover(args.baseline_rounds, grace=DEFAULT_LEASE_TTL)

    def line(name: str, label: str, target: str, values: list[float] | None = None) -> None:
        values = results[name] if values is None else values
        print(
            f"{label}: median {statistics.median(values):.3f} s, worst {max(values):.3f} s "
            f"({len(values)} rounds; target {target})"
        )

    line("live", "start -> live", "< 1 s")
    line("kill", "kill -9 -> not live", "< 2 s")
    worst = max(results["freeze"]) / args.heartbeat
    line("freeze", "SIGSTOP -> not live", f"< 3 heartbeat intervals = {3 * args.heartbeat:g} s")
    print(f"  worst SIGSTOP detection in heartbeat intervals: {worst:.2f}")
    line("restart", "hub restart (healthy) -> plugin live again", "< backoff cap 1 s + connect")
    line("", "default settings: kill -9 -> job accepted by the other process", "<= 3 s", failover)
    line("", "  baseline, grace = lease (before the grace)", "about the 30 s lease", baseline)


DEFAULT_LEASE_TTL = 30.0
DEFAULTS = {
    # Empty means unset: the hub's own defaults, not the test harness's short timings.
    name: ""
    for name in (
        "HUB_HEARTBEAT_INTERVAL",
        "HUB_LEASE_TTL",
        "HUB_ACCEPT_TIMEOUT",
        "HUB_RETRY_DELAY",
        "HUB_CANCEL_GRACE",
        "HUB_MAX_ATTEMPTS",
    )
}


def measure_failover(rounds: int, *, grace: float | None) -> list[float]:
    """Seconds from `kill -9` of the process running a job to another process accepting
    it, with the hub's default settings (and HUB_RECONNECT_GRACE=`grace` if given)."""
    env = {**DEFAULTS, "HUB_LOG_LEVEL": "WARNING"}
    if grace is not None:
        env["HUB_RECONNECT_GRACE"] = str(grace)
    waits: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "hub", database_url="", env=env)
        hub.data_dir.mkdir(parents=True)
        hub.create_admin()
        hub.start()
        plugin_id, secret = hub.create_plugin("echo")

        def start() -> PluginProcess:
            return PluginProcess("behaviours", hub=hub, plugin_id=plugin_id, secret=secret).start()

        processes = [start(), start()]
        try:
            for _ in range(rounds):
                wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 2, 30)
                [job] = hub.submit(plugin_id, [{"config": {"mode": "forever"}}])  # until cancelled
                wait_until(started(hub, job["id"], attempt=1), 30, 0.005)
                [busy] = [c for c in hub.plugin(plugin_id)["connections"] if c["running"]]
                [victim] = [p for p in processes if p.pid == busy["pid"]]
                victim.signal(signal.SIGKILL)
                killed_at = time.monotonic()
                victim.wait()
                wait_until(started(hub, job["id"], attempt=2), 120, 0.005)
                waits.append(time.monotonic() - killed_at)
                hub.api("POST", f"/jobs/{job['id']}/cancel")
                processes[processes.index(victim)] = start()
        finally:
            for process in processes:
                process.stop()
            hub.stop()
    return waits


def started(hub: HubProcess, job_id: str, *, attempt: int) -> Callable[[], bool]:
    """True once `attempt` of the job is accepted by a process."""

    def check() -> bool:
        job = hub.job(job_id)
        return bool(job["attempts"] == attempt and job["started_at"] is not None)

    return check


if __name__ == "__main__":
    main()
