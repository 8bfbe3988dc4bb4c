"""drf-spectacular post-processing hooks (listed in ``SPECTACULAR_SETTINGS``): what it cannot
see by itself.

- The health probes (``/healthz``, ``/readyz``) are plain Django views answered by
  ``app.telemetry.health.HealthProbeMiddleware`` before routing: ``add_probe_paths`` adds them
  as anonymous operations with their real bodies.
- ``describe_jwt_scheme`` says how the bearer tokens are checked (the RFC 8725 practices).
"""

from __future__ import annotations

from typing import Any

_LIVENESS = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ok"]}},
    "required": ["status"],
}
_CHECK = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "error"]},
        "error": {"type": "string", "description": "Why (degraded or error only)."},
        "duration_ms": {"type": "number", "minimum": 0},
    },
    "required": ["status", "duration_ms"],
}
_READINESS = {
    "type": "object",
    "description": "`unavailable` (503) names the failing checks; `degraded` (200) the checks "
    "whose dependency the service runs without (the cache).",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
        "failing": {"type": "array", "items": {"type": "string"}},
        "degraded": {"type": "array", "items": {"type": "string"}},
        "checks": {
            "type": "object",
            "additionalProperties": {"$ref": "#/components/schemas/Check"},
        },
    },
    "required": ["status", "failing", "degraded", "checks"],
}


def _probe(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["probes"],
            "security": [],
            "responses": responses,
        }
    }


def _body(description: str, name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def add_probe_paths(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: document ``GET /healthz`` and ``GET /readyz``."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({"Liveness": _LIVENESS, "Check": _CHECK, "Readiness": _READINESS})
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    result["paths"] = {
        **result["paths"],
        "/healthz": _probe(
            "healthz_retrieve",
            "Liveness: the process answers (touches no dependency)",
            {"200": _body("Alive.", "Liveness")},
        ),
        "/readyz": _probe(
            "readyz_retrieve",
            "Readiness: the database and the cache answer",
            {
                "200": _body("Ready (`ok`), or `degraded` without the cache.", "Readiness"),
                "503": _body("Not ready: a failing check (the database).", "Readiness"),
            },
        ),
    }
    return result


JWT_DESCRIPTION = (
    "An access token from `POST /api/auth/token/` (or `/api/auth/token/refresh/`), sent as "
    "`Authorization: Bearer <access>`. Checked as RFC8725 recommends: the algorithm is "
    "pinned to HS256 (`alg: none` and any other algorithm are refused), the signature and "
    "the expiry are required, and a refresh token is not accepted as an access token."
)


def describe_jwt_scheme(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: a description on the ``jwtAuth`` scheme."""
    scheme = result.get("components", {}).get("securitySchemes", {}).get("jwtAuth")
    if scheme is not None:
        scheme["description"] = JWT_DESCRIPTION
    return result
