"""A tiny HTTP client for the tests that talk to a real server over the network.

``http`` never raises on error statuses and never follows redirects or proxies.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message
from typing import Any, NamedTuple


class Response(NamedTuple):
    """An HTTP answer: status, headers and the body (parsed JSON, else text)."""

    status: int
    headers: Message
    body: Any

    def is_json(self) -> bool:
        """True when the server declared a JSON body."""
        content_type = self.headers.get("Content-Type", "")
        return content_type.split(";")[0].strip().endswith(("/json", "+json"))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back to the caller instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies: every request goes straight to 127.0.0.1 even when *_proxy variables are set.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def http(
    method: str,
    url: str,
    *,
    json_body: object | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Response:
    """Send one request; 4xx and 5xx answers are returned, not raised."""
    data = None if json_body is None else json.dumps(json_body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json, text/html;q=0.9, */*;q=0.8")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            status, answer_headers, raw = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            status, answer_headers, raw = error.code, error.headers, error.read()
    response = Response(status, answer_headers, raw.decode("utf-8", errors="replace"))
    if response.is_json() and raw:
        return response._replace(body=json.loads(raw))
    return response
