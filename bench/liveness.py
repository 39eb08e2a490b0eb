"""How fast the hub notices plugin processes come and go, with real processes.

    .venv/bin/python bench/liveness.py [--heartbeat 0.5] [--rounds 5]

Prints, per event, the median and worst of --rounds measurements: start -> live,
kill -9 -> not live, SIGSTOP -> not live (in heartbeat intervals too), and hub restart ->
the plugin live again (with PLUGIN_RECONNECT_MAX_DELAY=1).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
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
    args = parser.parse_args()
    results: dict[str, list[float]] = {"live": [], "kill": [], "freeze": [], "restart": []}
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(
            Path(tmp) / "hub",
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

    def line(name: str, label: str, target: str) -> None:
        values = results[name]
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


if __name__ == "__main__":
    main()
