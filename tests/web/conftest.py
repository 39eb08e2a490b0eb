"""In-process tests of the dashboard's pages: the real app through Starlette's TestClient,
signed in through the real sign-in form, with the real CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.hub.conftest import (  # noqa: F401 (fixtures)
    Owner,
    TestClient,
    _fast_password_hashing,
    acme,
    call,
    client,
    globex,
    hub,
    make_plugin,
    settings,
    settings_overrides,
)

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class WebUser:
    """One signed-in browser: its own cookies, swapped into the shared TestClient for each
    request, so tests can act as people of different organizations side by side."""

    def __init__(self, test_client: TestClient, email: str, password: str = PASSWORD) -> None:
        self.client = test_client
        self.cookies = httpx.Cookies()
        page = self.get("/signin")
        response = self.post(
            "/signin", {"email": email, "password": password}, csrf=_token(page.text)
        )
        assert response.status_code == 303, response.text
        self.csrf = _token(self.get("/plugins").text)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.client.cookies = self.cookies
        response = self.client.request(method, path, follow_redirects=False, **kwargs)
        self.cookies = httpx.Cookies(self.client.cookies)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._send("GET", path, **kwargs)

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        files: Any = None,
        csrf: str | None = None,
    ) -> httpx.Response:
        """A form post with this session's CSRF token (pass csrf="" to leave it out)."""
        fields = dict(data or {})
        token = self.csrf if csrf is None and hasattr(self, "csrf") else csrf
        if token:
            fields["csrf_token"] = token
        return self._send("POST", path, data=fields, files=files)


def _token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


@pytest.fixture
def web_user(client: TestClient) -> Callable[[Owner], WebUser]:  # noqa: F811
    """`web_user(acme)`: a browser signed in as that owner."""

    def _sign_in(owner: Owner) -> WebUser:
        return WebUser(client, f"owner@{owner.organization}.example")

    return _sign_in
