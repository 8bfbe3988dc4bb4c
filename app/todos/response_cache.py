"""Cached responses and conditional requests for the todo reads (the list and one todo).

A read is keyed by what decides its body: the owner, the version of the owner's todos
(``TodoVersion``, raised in the transaction of every write and read with the authenticating
user, so it costs no query), the path, the query string (parameters sorted, repeated values
kept in order), the scheme and host (the list's page links are absolute) and this code's
revision. The key's digest is the response's strong ``ETag``:

- ``If-None-Match`` naming it: ``304 Not Modified``, without reading the cache or any todo
  (it needs neither: the version already says nothing changed). ``*`` is not a match: the
  version cannot tell whether the todo or page exists (a 404 stays a 404);
- else the body stored under ``responses:<owner>:<digest>`` in the default cache (a hit);
- else the view renders it from the database and a 200 is stored for
  ``RESPONSE_CACHE_SECONDS`` (a miss), unless the cache is unreachable (a bypass: the
  resilient backend's circuit is open, ``app.cache``), when nothing is stored.

Every answer carries ``ETag``, ``Cache-Control: private, no-cache`` (clients may keep it, and
must revalidate) and ``Vary: Authorization``. The result is counted in
``todos_response_cache_requests_total{view, result}`` (a 304 is a hit) and set on the request
as ``response_cache`` (``hit``, ``miss``, ``bypass`` or ``304``) for the access log line.
``RESPONSE_CACHE_SECONDS=0`` (and, in settings, no ``REDIS_URL``) turns all of it off.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.http import HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.template.response import SimpleTemplateResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework.request import Request

from app import __version__
from app.todos.metrics import response_cache_requests

RESULT_ATTRIBUTE = "response_cache"  # on the HttpRequest; read by app.telemetry.access
KEY_PREFIX = "responses"
CACHE_CONTROL = "private, no-cache"
VARY = ("Authorization",)
# Part of every key and ETag: a release (or a change of the stored shape) starts afresh.
REVISION = f"1/{__version__}"
NOT_MODIFIED = "304"


def enabled() -> bool:
    """Whether reads are cached (``RESPONSE_CACHE_SECONDS`` above 0)."""
    seconds: int = settings.RESPONSE_CACHE_SECONDS
    return seconds > 0


def etag_for(request: Request, *, owner_id: int, version: int) -> str:
    """The strong ETag (quoted) of this read for ``owner_id`` at ``version``."""
    query = sorted(request.query_params.lists())
    material = repr(
        (REVISION, owner_id, version, request.scheme, request.get_host(), request.path, query)
    )
    return f'"{hashlib.blake2b(material.encode(), digest_size=16).hexdigest()}"'


def key_for(owner_id: int, etag: str) -> str:
    """The cache key of the body whose ETag is ``etag`` (per owner, readable in Redis)."""
    return f"{KEY_PREFIX}:{owner_id}:{etag.strip(chr(34))}"


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison)."""
    if not if_none_match:
        return False
    return any(tag.removeprefix("W/") == etag for tag in parse_etags(if_none_match))


def serve(
    request: Request,
    *,
    view: str,
    owner_id: int,
    version: int,
    render: Callable[[], HttpResponseBase],
) -> HttpResponseBase:
    """Answer a read from the ETag, the cache, or ``render()`` (the view's own response)."""
    etag = etag_for(request, owner_id=owner_id, version=version)
    if matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        _record(request, view, NOT_MODIFIED, counted="hit")
        return _with_headers(HttpResponseNotModified(), etag)
    store = caches[DEFAULT_CACHE_ALIAS]
    key = key_for(owner_id, etag)
    cached = store.get(key)
    if cached is not None:
        content_type, content = cached
        _record(request, view, "hit")
        return _with_headers(HttpResponse(content, content_type=content_type), etag)
    result = "bypass" if getattr(store, "degraded", False) else "miss"
    _record(request, view, result)
    response = render()
    if response.status_code != 200:
        return response
    if result == "miss" and isinstance(response, SimpleTemplateResponse):
        response.add_post_render_callback(functools.partial(_store, store, key))
    return _with_headers(response, etag)


def _store(store: Any, key: str, response: SimpleTemplateResponse) -> None:
    """Keep a rendered 200 for ``RESPONSE_CACHE_SECONDS`` (dropped if the cache is down)."""
    store.set(key, (response["Content-Type"], response.content), settings.RESPONSE_CACHE_SECONDS)


def _with_headers(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    patch_vary_headers(response, VARY)
    return response


@functools.cache
def _counter(view: str, result: str) -> Any:
    """The labelled child (``labels()`` resolved once per pair, not per request)."""
    return response_cache_requests.labels(view, result)


def _record(request: Request, view: str, result: str, *, counted: str | None = None) -> None:
    setattr(request._request, RESULT_ATTRIBUTE, result)  # the HttpRequest, not DRF's
    _counter(view, counted or result).inc()
