"""The UI's side of the server's token: a browser carries it in an HttpOnly, Secure, SameSite=Strict cookie
(set from ``/ui/?token=`` or the login form), accepted for ``/ui/`` paths only; without it ``/ui/api`` is 401
and a page is the login form. The functions the server's Guard calls, then a server with a token in Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from pykatib.server.names import STOP_ANNOTATION
from pykatib.ui import auth, data
from server_support import Server, running_server

TOKEN = "s3cret token;=,/"  # characters a cookie cannot hold as they are


def scope(path: str, *, cookie: str | None = None, query: str = "", method: str = "GET") -> dict[str, Any]:
    headers = [(b"cookie", cookie.encode("latin-1"))] if cookie is not None else []
    return {"type": "http", "path": path, "method": method, "query_string": query.encode(), "headers": headers}


def test_ui_allowed_takes_the_cookie_or_the_query_for_ui_paths_only() -> None:
    token = TOKEN.encode()
    cookie = f"{auth.TOKEN_COOKIE}={quote(TOKEN, safe='')}"
    assert auth.ui_allowed(scope("/ui/api/experiments", cookie=cookie), token)
    assert auth.ui_allowed(scope("/ui/", cookie=f"other=1; {cookie}"), token)
    assert auth.ui_allowed(scope("/ui/", query=f"token={quote(TOKEN)}"), token)
    assert not auth.ui_allowed(scope("/ui/", cookie=f"{auth.TOKEN_COOKIE}=wrong"), token)
    assert not auth.ui_allowed(scope("/ui/api/experiments"), token)
    assert not auth.ui_allowed(scope("/ui/", cookie='broken="'), token)
    # Found in review: cookies another site on the host set, which http.cookies gives up on, hid the token.
    for junk in ('x={"a":1}', "a=b c", "x=a\\b", f"{auth.TOKEN_COOKIE}=old"):
        assert auth.ui_allowed(scope("/ui/", cookie=f"{junk}; {cookie}"), token), junk
    # the cookie is the UI's: the Kubernetes API still needs the bearer header
    assert not auth.ui_allowed(scope("/apis/kubeflow.org/v1beta1/experiments", cookie=cookie), token)
    assert not auth.ui_allowed(scope("/uix", cookie=cookie), token)
    assert auth.ui_allowed(scope(auth.LOGIN_PATH), token)  # the login form itself
    assert auth.ui_allowed(scope(auth.LOGIN_PATH, method="POST"), token)


def test_the_cookie_is_http_only_secure_strict_and_for_the_ui() -> None:
    header = auth.cookie_header({}, TOKEN)
    assert header.startswith(f"{auth.TOKEN_COOKIE}={quote(TOKEN, safe='')};")
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"} <= set(header.split("; "))


def test_each_servers_cookie_has_its_port_in_its_name() -> None:
    """Browsers send a host's cookies to all its ports: two servers must not share (or overwrite) one."""
    on_8090, on_8091 = {"server": ("127.0.0.1", 8090)}, {"server": ("127.0.0.1", 8091)}
    assert auth.cookie_header(on_8090, TOKEN).startswith(f"{auth.TOKEN_COOKIE}-8090=")
    cookie = f"{auth.TOKEN_COOKIE}-8090={quote(TOKEN, safe='')}"
    assert auth.ui_allowed({**scope("/ui/", cookie=cookie), **on_8090}, TOKEN.encode())
    assert not auth.ui_allowed({**scope("/ui/", cookie=cookie), **on_8091}, TOKEN.encode())


def refused(path: str, **options: Any) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(auth.refuse(scope(path, **options), send))
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_refused_pages_get_the_login_form_and_data_a_status() -> None:
    status, headers, body = refused("/ui/experiments/default/x")
    assert status == 401 and headers[b"content-type"].startswith(b"text/html")
    assert b'action="/ui/login"' in body and b'value="/ui/experiments/default/x"' in body
    assert b"not this server" not in body
    assert b"not this server" in refused("/ui/", cookie=f"{auth.TOKEN_COOKIE}=wrong")[2]
    status, headers, body = refused("/ui/api/experiments")
    assert status == 401 and headers[b"content-type"] == b"application/json" and b'"reason": "Unauthorized"' in body


def test_the_stop_annotation_is_the_servers() -> None:
    assert data.STOP_ANNOTATION == STOP_ANNOTATION


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(tmp_path_factory.mktemp("ui-token") / "home", "--token", TOKEN) as started:
        yield started


def test_a_token_server_refuses_the_ui_without_its_token(token_server: Server) -> None:
    with httpx.Client(base_url=token_server.local_url, verify=token_server.verify) as http:
        assert http.get("/ui/api/experiments").status_code == 401
        assert http.get("/ui/api/experiments", headers={"Cookie": f"{auth.TOKEN_COOKIE}=wrong"}).status_code == 401
        assert http.get("/ui/api/experiments", headers=token_server.headers()).status_code == 200
        # the UI's cookie opens the UI, never the Kubernetes API
        name = auth.cookie_name({"server": ("127.0.0.1", int(token_server.local_url.rsplit(":", 1)[1]))})
        cookie = {"Cookie": f"{name}={quote(TOKEN, safe='')}"}
        assert http.get("/ui/api/experiments", headers=cookie).status_code == 200
        assert http.get("/apis/kubeflow.org/v1beta1/experiments", headers=cookie).status_code == 401


def test_a_browser_signs_in_with_the_token(context: Any, token_server: Server, tmp_path: Path) -> None:
    base = token_server.local_url
    page = context.new_page()
    first = page.goto(f"{base}/ui/")
    assert first is not None and first.status == 401  # the login form
    page.fill("#token", TOKEN)
    page.click("button[type='submit']")
    page.wait_for_function("document.body.dataset.rendered !== undefined")
    assert page.url == f"{base}/ui/"
    name = auth.cookie_name({"server": ("127.0.0.1", int(base.rsplit(":", 1)[1]))})
    (cookie,) = [c for c in context.cookies() if c["name"] == name]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert page.request.get(f"{base}/ui/api/experiments").status == 200
    assert page.request.get(f"{base}/ui/kube/apis/kubeflow.org/v1beta1/experiments").status == 200
    page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)

    other = context.browser.new_context(ignore_https_errors=True)
    try:
        fresh = other.new_page()
        assert fresh.request.get(f"{base}/ui/api/experiments").status == 401
        fresh.goto(f"{base}/ui/new?token={quote(TOKEN)}")  # the URL `pykatib server` prints
        fresh.wait_for_function("document.body.dataset.rendered === 'true'")
        assert fresh.url == f"{base}/ui/new"  # the token left the address bar for the cookie
        assert fresh.request.get(f"{base}/ui/api/experiments").status == 200
        other.clear_cookies()
        other.add_cookies([{"name": name, "value": "wrong", "url": f"{base}/ui/"}])
        again = fresh.goto(f"{base}/ui/")
        assert again is not None and again.status == 401 and "not this server" in fresh.inner_text("main")
        fresh.screenshot(path=str(tmp_path / "wrong-token.png"), full_page=True)
    finally:
        other.close()
