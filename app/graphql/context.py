"""What each GraphQL request carries through Strawberry: the caller and the operation record."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from rest_framework.request import Request

from app.graphql.operations import UNKNOWN


@dataclass
class OperationRecord:
    """What the telemetry needs to know about one request's operation, filled in as it runs.

    ``stage`` is how far it got (``parse``, ``validate``, ``execute``): errors are classified
    by it. ``codes`` holds one ``extensions.code`` per error in the response.
    """

    requested_name: str | None = None  # the request's operationName
    operation_type: str = UNKNOWN
    operation_name: str | None = None
    document: object | None = None  # graphql-core's DocumentNode, once parsed
    stage: str = "parse"
    codes: list[str] = field(default_factory=list)


@dataclass
class GraphQLContext:
    """``info.context`` in every resolver."""

    request: Request
    record: OperationRecord

    @property
    def user(self) -> User | None:
        """The authenticated caller (the view lets no anonymous request through)."""
        user = self.request.user
        return user if isinstance(user, User) else None
