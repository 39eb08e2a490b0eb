from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import HubProcess, PluginProcess

# Every test here is marked `e2e` by tests/conftest.py (a `pytestmark` in a conftest is ignored).


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path / "hub", database_url=database_url)
    process.data_dir.mkdir(parents=True)
    process.create_admin()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def start_plugin(hub: HubProcess) -> Iterator[Callable[..., PluginProcess]]:
    started: list[PluginProcess] = []

    def start(script: str, plugin_id: str, secret: str, **env: Any) -> PluginProcess:
        plugin = PluginProcess(
            script,
            hub=hub,
            plugin_id=plugin_id,
            secret=secret,
            env={k: str(v) for k, v in env.items()},
        )
        started.append(plugin.start())
        return plugin

    yield start
    for plugin in started:
        plugin.stop()
