"""Each node keeps the hot reads in memory (hub.services.read_cache); a write on one node
clears every node's copy through NOTIFY, not through their expiry."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import WebSocketDenialResponse

from hub.services import read_cache
from hub.services.accounts import Principal
from tests.cluster.conftest import Node, StartNode
from tests.cluster.test_nodes import api, custom_plugin_on_two_nodes, plugin_socket, two_nodes
from tests.hub.conftest import Owner, wait_until
from tests.hub.test_gateway import say_hello

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _answers_never_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a clear can make a node forget an answer here."""
    monkeypatch.setattr(read_cache, "SHARED_MAX_AGE", 3600.0)


def test_a_key_revoked_on_one_node_stops_working_on_the_other(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    first, second = two_nodes(start_node)
    acme = owner(first)
    for _ in range(2):  # cached on the second node
        assert api(second, acme, "GET", "/plugins").status_code == 200
    principal = Principal(acme.user_id, acme.organization_id, "owner")
    [key] = first.call(first.hub.accounts.api_keys, principal)
    first.call(first.hub.accounts.revoke_api_key, principal, key.id)
    wait_until(lambda: api(second, acme, "GET", "/plugins").status_code == 401)


def test_a_plugin_changed_on_one_node_is_seen_by_the_other(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)
    with plugin_socket(dispatcher, plugin) as ws:  # the dispatcher caches the secret
        say_hello(ws, job_type="custom")
    submit = f"/plugins/{plugin['id']}/jobs"
    assert api(dispatcher, acme, "POST", submit, json={}).json()["required_version"] is None
    other.call(other.hub.plugins.set_pin, acme.organization_id, plugin["id"], "2.0")
    wait_until(
        lambda: api(dispatcher, acme, "POST", submit, json={}).json()["required_version"] == "2.0"
    )
    rotated = api(other, acme, "POST", f"/plugins/{plugin['id']}/secret").json()

    def old_secret_refused() -> bool:
        try:
            with plugin_socket(dispatcher, plugin):
                return False
        except WebSocketDenialResponse:
            return True

    wait_until(old_secret_refused)
    with plugin_socket(dispatcher, {**plugin, "secret": rotated["secret"]}) as ws:
        say_hello(ws, job_type="custom")
