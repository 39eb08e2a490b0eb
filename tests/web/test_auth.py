"""Sign in, sign out, sessions and CSRF."""

from __future__ import annotations

from collections.abc import Callable

from tests.web.conftest import Owner, TestClient, WebUser


def test_pages_need_a_session(client: TestClient) -> None:
    response = client.get("/plugins?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fplugins%3Fx%3D1"


def test_sign_in_sets_an_httponly_samesite_cookie(
    client: TestClient, acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    assert user.get("/plugins").status_code == 200
    client.cookies.clear()
    page = client.get("/signin")
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/signin",
        data={
            "email": "owner@acme.example",
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_wrong_password_is_refused(client: TestClient, acme: Owner) -> None:
    page = client.get("/signin")
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/signin",
        data={"email": "owner@acme.example", "password": "nope-nope-nope", "csrf_token": token},
    )
    assert response.status_code == 401
    assert "wrong email or password" in response.text


def test_sign_in_without_csrf_token_is_refused(client: TestClient, acme: Owner) -> None:
    client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": "owner@acme.example", "password": "correct horse battery staple"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "hub_session" not in response.headers.get("set-cookie", "")


def test_forms_without_or_with_a_forged_token_are_refused(
    acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    form = {"name": "Sneaky", "type": "custom", "default_config": "{}"}
    assert user.post("/plugins", form, csrf="").status_code == 403
    assert user.post("/plugins", form, csrf="0" * 64).status_code == 403
    assert "Sneaky" not in user.get("/plugins").text
    assert user.post("/plugins", form).status_code == 200
    assert "Sneaky" in user.get("/plugins").text


def test_sign_out_ends_the_session_server_side(
    acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    stolen = dict(user.cookies)
    assert user.post("/signout").status_code == 303
    user.cookies.update(stolen)  # a copy of the cookie taken before signing out
    assert user.get("/plugins").status_code == 303


def test_next_never_redirects_off_site(client: TestClient, acme: Owner) -> None:
    page = client.get("/signin")
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/signin",
        data={
            "email": "owner@acme.example",
            "password": "correct horse battery staple",
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_repeated_wrong_passwords_are_throttled(client: TestClient, acme: Owner) -> None:
    page = client.get("/signin")
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]

    def attempt(password: str) -> int:
        form = {"email": "Owner@acme.example", "password": password, "csrf_token": token}
        return client.post("/signin", data=form, follow_redirects=False).status_code

    assert [attempt("wrong-password") for _ in range(10)] == [401] * 10
    # Now even the right password waits: the guesser cannot tell it was right.
    assert attempt("correct horse battery staple") == 429
    refused = client.post(
        "/signin",
        data={"email": "owner@acme.example", "password": "x", "csrf_token": token},
    )
    assert "too many failed sign-ins" in refused.text
