"""Registration and token endpoints: anonymous, throttled strictly.

Every endpoint here is throttled per client address by the ``auth`` scope
(``THROTTLE_AUTH_RATE``); the token endpoint is also throttled per submitted username
(``THROTTLE_LOGIN_USER_RATE``, failed attempts only: see ``app.accounts.throttling``).
"""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt import views as jwt_views

from app.accounts import services
from app.accounts.serializers import (
    RegisterSerializer,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from app.accounts.throttling import LoginUsernameThrottle
from app.api.throttling import AnonRateThrottle, ScopedRateThrottle

# Password hashing is expensive: these endpoints also get the stricter `auth` scope.
AUTH_THROTTLES = [AnonRateThrottle, ScopedRateThrottle]


class RegisterView(generics.GenericAPIView[Any]):
    """Create an account. Django's password validators apply."""

    serializer_class = RegisterSerializer
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_classes = AUTH_THROTTLES
    throttle_scope = "auth"

    @extend_schema(summary="Create an account", responses={201: RegisterSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(**serializer.validated_data)
        return Response(self.get_serializer(user).data, status=status.HTTP_201_CREATED)


@extend_schema_view(post=extend_schema(summary="Get an access and a refresh token"))
class TokenObtainPairView(jwt_views.TokenObtainPairView):
    """Exchange username and password for an access and a refresh JWT."""

    serializer_class = TokenObtainPairSerializer
    throttle_classes = [*AUTH_THROTTLES, LoginUsernameThrottle]
    throttle_scope = "auth"
    rejects_credentials = True  # 401 on a bad password or token (documented in the schema)

    def get_throttles(self) -> list[BaseThrottle]:
        """The throttles of this request, kept to refund a successful login's attempt."""
        self.request_throttles = super().get_throttles()
        return self.request_throttles

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().post(request, *args, **kwargs)
        if response.status_code == status.HTTP_200_OK:
            for throttle in getattr(self, "request_throttles", []):
                if isinstance(throttle, LoginUsernameThrottle):
                    throttle.refund()
        return response


@extend_schema_view(post=extend_schema(summary="Get a new access token"))
class TokenRefreshView(jwt_views.TokenRefreshView):
    """Exchange a refresh JWT for a new access JWT."""

    serializer_class = TokenRefreshSerializer
    throttle_classes = AUTH_THROTTLES
    throttle_scope = "auth"
    rejects_credentials = True  # 401 on a bad password or token (documented in the schema)
