"""The UI's side of the server's token: a browser cannot send a bearer header, so a ``/ui/`` request may carry
the token in a cookie instead (HttpOnly, Secure, SameSite=Strict, path ``/ui``), or once in ``?token=``, which
the page then moves into the cookie. The server's Guard asks ``ui_allowed`` for ``/ui/`` paths whose request
has no valid bearer header, and answers a refused one with ``refuse`` (the login form for a page).
"""

from __future__ import annotations

import hmac
import html
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote

PREFIX = "/ui"
TOKEN_COOKIE = "pykatib-token"
LOGIN_PATH = f"{PREFIX}/login"
# The UI's own requests that change something carry this header: a form on another site cannot send it.
CSRF_HEADER = "x-pykatib-ui"


def is_ui(path: str) -> bool:
    return path == PREFIX or path.startswith(f"{PREFIX}/")


def cookie_name(scope: Mapping[str, Any]) -> str:
    """The token cookie's name for the server that got the request: ``pykatib-token-<port>``. Browsers send a
    host's cookies to every port of it; with the port in its name, two servers never overwrite (or receive)
    each other's."""
    server = scope.get("server")
    return f"{TOKEN_COOKIE}-{server[1]}" if server and server[1] else TOKEN_COOKIE


def cookie_header(scope: Mapping[str, Any], token: str, *, max_age: int | None = None) -> str:
    """The Set-Cookie value that keeps ``token`` for the UI's paths (``max_age=0``: forget it)."""
    name = cookie_name(scope)
    parts = [f"{name}={quote(token, safe='')}", f"Path={PREFIX}", "HttpOnly", "Secure", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def credentials(scope: Mapping[str, Any]) -> list[bytes]:
    """The tokens a ``/ui/`` request carries besides a bearer header: every cookie of its name (read by hand:
    ``http.cookies`` stops at the first cookie it cannot parse, which another site on the host may have set)
    and its ``token`` parameter."""
    found: list[bytes] = []
    name = cookie_name(scope)
    for header, value in scope.get("headers") or []:
        if header == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, sep, given = part.strip().partition("=")
                if sep and key == name:
                    found.append(unquote(given.strip().strip('"')).encode())
    query = (scope.get("query_string") or b"").decode("latin-1")
    found.extend(value.encode() for value in parse_qs(query).get("token", []))
    return found


def ui_allowed(scope: dict[str, Any], token: bytes) -> bool:
    """Whether a request without a valid bearer header may pass: a ``/ui/`` path whose cookie or ``?token=``
    is the token (compared in constant time), or the login form itself."""
    path = str(scope.get("path") or "")
    if not is_ui(path):
        return False
    if path == LOGIN_PATH:
        return True  # the form, and its POST, which only sets the cookie (checked on the next request)
    allowed = False
    for given in credentials(scope):
        allowed |= hmac.compare_digest(given, token)
    return allowed


async def refuse(scope: dict[str, Any], send: Any) -> None:
    """401 for a refused ``/ui/`` request: the login form for a page, a Kubernetes ``Status`` for data."""
    path = str(scope.get("path") or "")
    data_path = path.startswith((f"{PREFIX}/api/", f"{PREFIX}/kube/", f"{PREFIX}/static/"))
    if data_path or scope.get("method") != "GET":
        body = json.dumps({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
            "reason": "Unauthorized", "code": 401,
        }).encode()  # fmt: skip
        content_type = b"application/json"
    else:
        body = login_page(path, wrong=bool(credentials(scope))).encode()
        content_type = b"text/html; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def login_page(next_path: str = f"{PREFIX}/", *, wrong: bool = False) -> str:
    """A form asking for the server's token (it posts to LOGIN_PATH, which sets the cookie)."""
    target = next_path if is_ui(next_path) and next_path != LOGIN_PATH else f"{PREFIX}/"
    notice = '<p class="error" role="alert">That token is not this server\'s.</p>' if wrong else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>pykatib: sign in</title>
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input,button{{font:inherit;padding:.4rem .6rem}}input{{width:100%;box-sizing:border-box;margin:.3rem 0 1rem}}
:focus-visible{{outline:3px solid #3b82f6;outline-offset:2px}}.error{{color:#dc2626}}</style></head>
<body><main><h1>pykatib</h1>{notice}
<p>This server needs its token (<code>pykatib server --token</code>, or <code>token</code> in its
<code>server.json</code>).</p>
<form method="post" action="{LOGIN_PATH}"><input type="hidden" name="next" value="{html.escape(target)}">
<label for="token">Token</label><input id="token" name="token" type="password" autocomplete="current-password"
required autofocus><button type="submit">Sign in</button></form></main></body></html>
"""
