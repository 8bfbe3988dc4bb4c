"""Who may touch which todo (OWASP API1, broken object-level authorization) and which JWTs pass.

Extends the ownership and token tests in tests/todos/test_api.py and tests/accounts/test_api.py
(GET/PUT/PATCH/DELETE on someone else's todo, the plain list, expired, re-signed and unsigned
tokens, refresh/access confusion) instead of repeating them: here the matrix is driven by the
OpenAPI schema, so a new todo route or method cannot ship without an ownership check; the list
is checked under every filter; and the token cases cover the remaining forgeries (a payload
edited under the original signature, a flipped signature, other algorithms in the header,
missing claims) and other credential schemes.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.generics import GenericAPIView
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from app.todos.models import Todo
from tests.factories import DEFAULT_PASSWORD, TodoFactory, UserFactory, make_todos

pytestmark = [
    pytest.mark.django_db,
    # HS512 signed with the server's (HS256-sized) key, on purpose
    pytest.mark.filterwarnings("ignore:The HMAC key is .* bytes long"),
]

LIST_URL = "/api/todos/"
TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
BODIES: dict[str, dict[str, Any] | None] = {
    "get": None,
    "head": None,
    "options": None,
    "put": {"title": "stolen", "completed": True},
    "patch": {"title": "stolen", "completed": True},
    "delete": None,
    "post": {"title": "stolen"},
}
# Every route serving todos, as app/urls.py routes them: a new route, action or method fails
# test_the_matrix_covers_every_routed_todo_endpoint until it is added here, and with it to
# the ownership checks below.
TODO_ROUTES = {
    "api/todos/": {"get", "post"},
    "api/todos/<int:pk>/": {"get", "put", "patch", "delete"},
}
DETAIL_METHODS = sorted(TODO_ROUTES["api/todos/<int:pk>/"] | {"head", "options"})


def snapshot() -> list[tuple[Any, ...]]:
    """Every todo as stored, to prove a refused request changed nothing."""
    return list(
        Todo.objects.order_by("id").values_list(
            "id", "owner_id", "title", "completed", "updated_at"
        )
    )


def send(client: APIClient, method: str, url: str) -> Any:
    """``method`` on ``url`` with the matrix's JSON body for that method."""
    body = BODIES[method]
    return (
        getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    )


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def routed_todo_methods() -> dict[str, set[str]]:
    """Every routed URL serving todos (from app/urls.py, schema or not) and its methods."""
    routes: dict[str, set[str]] = {}
    for route, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "cls", None)
        if view is not None and issubclass(view, GenericAPIView):
            model = getattr(getattr(view, "queryset", None), "model", None)
            serializer = getattr(view, "serializer_class", None)
            meta_model = getattr(getattr(serializer, "Meta", None), "model", None)
            if Todo in {model, meta_model}:
                actions = getattr(callback, "actions", None) or {
                    method: method for method in view.http_method_names if hasattr(view, method)
                }
                routes[route] = set(actions) - {"head", "options", "trace"}
    return routes


# ------------------------------------------------------------------ object-level authorization


def test_the_matrix_covers_every_routed_todo_endpoint() -> None:
    assert routed_todo_methods() == TODO_ROUTES


@pytest.mark.parametrize("method", DETAIL_METHODS)
def test_someone_elses_todo_answers_like_a_missing_one_and_stays_unchanged(
    alice: User, bob_client: APIClient, method: str
) -> None:
    """Every detail method, HEAD and OPTIONS included: B cannot tell A's todo from no todo."""
    todo = TodoFactory.create(owner=alice, title="alice's")
    missing_id = todo.pk + 1000
    before = snapshot()

    foreign = send(bob_client, method, f"/api/todos/{todo.pk}/")
    missing = send(bob_client, method, f"/api/todos/{missing_id}/")

    assert snapshot() == before
    assert foreign.status_code == missing.status_code
    assert foreign.content == missing.content
    if method != "options":  # OPTIONS describes the route, the same for any id
        assert foreign.status_code == 404
    assert b"alice" not in foreign.content


@pytest.mark.parametrize("method", DETAIL_METHODS)
def test_the_owner_reaches_every_detail_method(
    alice: User, alice_client: APIClient, method: str
) -> None:
    """The control for the matrix above: the same requests work for the owner."""
    todo = TodoFactory.create(owner=alice)

    response = send(alice_client, method, f"/api/todos/{todo.pk}/")

    assert response.status_code in {200, 204}, response.content


def test_a_todo_cannot_be_created_for_someone_else(alice: User, bob_client: APIClient) -> None:
    for payload in ({"title": "x", "owner": alice.pk}, {"title": "x", "owner_id": alice.pk}):
        assert bob_client.post(LIST_URL, payload, format="json").status_code == 400

    created = bob_client.post(LIST_URL, {"title": "mine"}, format="json")

    assert created.status_code == 201
    assert not Todo.objects.filter(owner=alice).exists()


def test_updates_cannot_move_a_todo_to_someone_else(
    alice: User, bob: User, bob_client: APIClient
) -> None:
    todo = TodoFactory.create(owner=bob)

    for payload in ({"owner": alice.pk}, {"owner_id": alice.pk}, {"id": todo.pk + 1}):
        bob_client.patch(f"/api/todos/{todo.pk}/", payload, format="json")

    assert list(Todo.objects.values_list("id", "owner_id")) == [(todo.pk, bob.pk)]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"completed": "true"},
        {"completed": "false"},
        {"search": "secret"},
        {"search": "alice"},
        {"ordering": "title"},
        {"ordering": "-updated_at"},
        {"ordering": "owner"},
        {"page_size": "100"},
        {"page": "2", "page_size": "2"},
        # parameters the API does not know must not widen the query either
        {"owner": "alice-id"},
        {"owner__username": "alice"},
        {"user": "alice-id"},
        {"id": "alice-todo"},
        {"id__in": "alice-todo"},
    ],
    ids=lambda query: "&".join(f"{k}={v}" for k, v in query.items()) or "no-filter",
)
def test_the_list_never_shows_someone_elses_todos_whatever_the_filters(
    alice: User, bob: User, bob_client: APIClient, query: dict[str, str]
) -> None:
    alices = [
        TodoFactory.create(owner=alice, title="alice secret", completed=True),
        TodoFactory.create(owner=alice, title="alice secret", completed=False),
    ]
    bobs = {
        todo.pk
        for todo in [
            *make_todos(bob, 2, completed=True),
            TodoFactory.create(owner=bob, title="bob secret"),
        ]
    }
    values = {"alice-id": str(alice.pk), "alice-todo": str(alices[0].pk)}
    params = {name: values.get(value, value) for name, value in query.items()}

    response = bob_client.get(LIST_URL, params)

    assert response.status_code in {200, 400, 404}, response.content
    if response.status_code == 200:
        ids = {item["id"] for item in response.json()["results"]}
        assert ids <= bobs
    assert b"alice" not in response.content


def test_the_list_counts_only_the_callers_todos(
    alice: User, bob: User, bob_client: APIClient
) -> None:
    make_todos(alice, 7)
    make_todos(bob, 2)

    assert bob_client.get(LIST_URL, {"page_size": 1}).json()["count"] == 2


# ------------------------------------------------------------------ tokens


def b64(data: bytes) -> str:
    """Base64url without padding, as JWTs encode their parts."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def with_header(token: str, **header: Any) -> str:
    """``token`` with its header replaced (payload and signature kept)."""
    _, payload, signature = token.split(".")
    return ".".join([b64(json.dumps(header).encode()), payload, signature])


def with_claims(token: str, **claims: Any) -> str:
    """``token`` with ``claims`` changed in its payload, under the original signature."""
    header, payload, signature = token.split(".")
    edited = {**json.loads(unb64(payload)), **claims}
    return ".".join([header, b64(json.dumps(edited).encode()), signature])


def flip_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64(signature))
    raw[0] ^= 0x01
    return ".".join([header, payload, b64(bytes(raw))])


def sign(claims: dict[str, Any], *, algorithm: str = "HS256", key: str | None = None) -> str:
    """Sign ``claims`` with the server's key (or ``key``) and ``algorithm``."""
    return jwt.encode(claims, key or settings.SECRET_KEY, algorithm=algorithm)


def access_claims(user: User) -> dict[str, Any]:
    return dict(AccessToken.for_user(user).payload)


Forgery = Callable[[User, User], str]

FORGERIES: dict[str, Forgery] = {
    # payload edits under the original signature
    "user_id-edited": lambda alice, bob: with_claims(
        str(AccessToken.for_user(alice)), user_id=str(bob.pk)
    ),
    "exp-extended": lambda alice, _: with_claims(
        str(AccessToken.for_user(alice)), exp=4_102_444_800
    ),
    "refresh-relabelled-as-access": lambda alice, _: with_claims(
        str(RefreshToken.for_user(alice)), token_type="access"
    ),
    # the signature itself
    "signature-flipped": lambda alice, _: flip_signature(str(AccessToken.for_user(alice))),
    "signature-stripped": lambda alice, _: str(AccessToken.for_user(alice)).rsplit(".", 1)[0] + ".",
    # algorithms the server does not accept (it only verifies HS256)
    "alg-none": lambda alice, _: (
        with_header(str(AccessToken.for_user(alice)), alg="none", typ="JWT").rsplit(".", 1)[0] + "."
    ),
    "alg-None-capitalised": lambda alice, _: (
        with_header(str(AccessToken.for_user(alice)), alg="None", typ="JWT").rsplit(".", 1)[0] + "."
    ),
    "alg-HS512-with-the-real-key": lambda alice, _: sign(access_claims(alice), algorithm="HS512"),
    "alg-RS256-header": lambda alice, _: with_header(
        str(AccessToken.for_user(alice)), alg="RS256", typ="JWT"
    ),
    "alg-HS256-with-a-public-key-style-kid": lambda alice, _: with_header(
        str(AccessToken.for_user(alice)), alg="HS256", typ="JWT", kid="../../../dev/null"
    ),
    # properly signed, but missing or wrong claims
    "no-exp-claim": lambda alice, _: sign(
        {k: v for k, v in access_claims(alice).items() if k != "exp"}
    ),
    "no-token-type": lambda alice, _: sign(
        {k: v for k, v in access_claims(alice).items() if k != "token_type"}
    ),
    "no-user-id": lambda alice, _: sign(
        {k: v for k, v in access_claims(alice).items() if k != "user_id"}
    ),
    "unknown-user-id": lambda alice, _: sign({**access_claims(alice), "user_id": "987654321"}),
    "expired-by-a-second": lambda alice, _: sign({**access_claims(alice), "exp": 1}),
    # garbage
    "not-a-jwt": lambda *_: secrets.token_urlsafe(40),
    "two-parts": lambda alice, _: ".".join(str(AccessToken.for_user(alice)).split(".")[:2]),
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
@pytest.mark.parametrize("url_kind", ["list", "detail"])
def test_forged_and_malformed_tokens_get_401_and_change_nothing(
    alice: User, bob: User, forgery: Forgery, url_kind: str
) -> None:
    todo = TodoFactory.create(owner=bob)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forgery(alice, bob)}")
    url = LIST_URL if url_kind == "list" else f"/api/todos/{todo.pk}/"
    before = snapshot()

    responses = [client.get(url), client.patch(url, {"title": "forged"}, format="json")]

    assert [r.status_code for r in responses] == [401, 401]
    assert all(r["WWW-Authenticate"].startswith("Bearer") for r in responses)
    assert snapshot() == before


@pytest.mark.parametrize(
    "header",
    [
        "bearer {access}",  # the scheme is case-sensitive here: only "Bearer"
        "JWT {access}",
        "Token {access}",
        "Bearer",
        "Bearer {access} {access}",
        "Basic {basic}",
    ],
)
def test_other_credential_schemes_are_not_accepted(alice: User, header: str) -> None:
    basic = base64.b64encode(f"alice:{DEFAULT_PASSWORD}".encode()).decode()
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=header.format(access=AccessToken.for_user(alice), basic=basic)
    )

    assert client.get(LIST_URL).status_code == 401


def test_an_access_token_for_an_inactive_user_is_refused(alice: User) -> None:
    token = str(AccessToken.for_user(alice))
    alice.is_active = False
    alice.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert client.get(LIST_URL).status_code == 401


@pytest.mark.parametrize(
    "forge",
    [
        lambda user: str(AccessToken.for_user(user)),
        lambda user: with_claims(str(RefreshToken.for_user(user)), user_id="987654321"),
        lambda user: flip_signature(str(RefreshToken.for_user(user))),
        lambda user: sign({**dict(RefreshToken.for_user(user).payload), "exp": 1}),
        lambda user: sign(dict(RefreshToken.for_user(user).payload), algorithm="HS512"),
        lambda user: sign(dict(RefreshToken.for_user(user).payload), key="x" * 64),
    ],
    ids=["access", "user_id-edited", "signature-flipped", "expired", "HS512", "other-key"],
)
def test_the_refresh_endpoint_takes_only_genuine_refresh_tokens(
    alice: User, anon_client: APIClient, forge: Callable[[User], str]
) -> None:
    response = anon_client.post(REFRESH_URL, {"refresh": forge(alice)}, format="json")

    assert response.status_code == 401
    assert "access" not in response.json()


def test_a_refreshed_access_token_belongs_to_the_same_user(
    alice: User, anon_client: APIClient
) -> None:
    refresh = RefreshToken.for_user(alice)

    access = anon_client.post(REFRESH_URL, {"refresh": str(refresh)}, format="json").json()

    assert AccessToken(access["access"])["user_id"] == str(alice.pk)
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    assert isinstance(lifetime, timedelta)
    issued = AccessToken(access["access"])
    assert timedelta(seconds=issued["exp"] - refresh["iat"]) <= lifetime + timedelta(seconds=5)


# ------------------------------------------------------------------ staff-only surfaces


def test_the_admin_needs_a_staff_session(alice: User) -> None:
    """Anonymous callers and JWTs get the login page; a normal user cannot log in there."""
    anonymous = Client()
    assert anonymous.get("/admin/").status_code == 302
    assert anonymous.get("/admin/").headers["Location"].startswith("/admin/login/")

    with_jwt = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(alice)}")
    assert with_jwt.get("/admin/").status_code == 302

    normal = Client()
    login = normal.post(
        "/admin/login/?next=/admin/", {"username": "alice", "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 200  # the form again, with an error
    assert "sessionid" not in login.cookies
    assert normal.get("/admin/").status_code == 302


def test_staff_can_use_the_admin() -> None:
    """The control for the test above."""
    UserFactory.create(username="ops", is_staff=True, is_superuser=True)
    staff = Client()

    login = staff.post(
        "/admin/login/?next=/admin/", {"username": "ops", "password": DEFAULT_PASSWORD}
    )

    assert login.status_code == 302
    assert staff.get("/admin/").status_code == 200
