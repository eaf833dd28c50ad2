"""The OpenAPI 3 document of the HTTP API (SPEC §4). Request bodies are the schemas
``validation.py`` enforces (declared there once); ``/api/v1/protocol.json`` is the worker wire
protocol as JSON Schema, the declarations ``worker/protocol.py`` enforces."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from coordinator.models import TaskStatus
from coordinator.validation import BATCH_SCHEMA, CONFIG_SCHEMAS, TASK_SCHEMA
from worker import protocol

_ERROR = {"description": "bad input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OBJ = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


LIST_PARAMS = [_q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}), _q("cursor", {"type": "string"})]
ERROR_FILTERS = [_q(n, {"type": "string"}) for n in ("category", "worker_id", "task_id", "hardware_type",
                                                      "pattern_id", "since", "until")]


def document(extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/tasks": {
            "post": {"summary": "Submit one task or a batch", "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Task"},
                                                          {"$ref": "#/components/schemas/TaskBatch"}]}}}},
                     "responses": {"201": {"description": "durable and queued", **_OBJ_CONTENT}, "400": _ERROR}},
            "get": {"summary": "List tasks", "parameters": [
                _q("status", {"type": "string", "enum": [s.value for s in TaskStatus]}),
                _q("ids", {"type": "string"}, "comma-separated task ids (at most 1000)"), *LIST_PARAMS],
                    "responses": {"200": _OBJ, "400": _ERROR}}},
        "/api/v1/tasks/{task_id}": {"get": {"summary": "One task with its attempts", "parameters": [_p("task_id")],
                                            "responses": {"200": _OBJ, "404": _ERROR}}},
        "/api/v1/tasks/{task_id}/cancel": {"post": {"summary": "Cancel a queued or running task",
                                                    "parameters": [_p("task_id")],
                                                    "responses": {"200": _OBJ, "404": _ERROR, "409": _ERROR}}},
        "/api/v1/status": {"get": {"summary": "Counts by task status and worker state", "responses": {"200": _OBJ}}},
        "/api/v1/workers": {"get": {"summary": "Workers by id, a page at a time", "parameters": [
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (default 1000)"),
            _q("cursor", {"type": "string"}, "next_cursor of the previous page")],
            "responses": {"200": _OBJ, "400": _ERROR}}},
        "/api/v1/workers/{worker_id}": {"get": {"summary": "One worker", "parameters": [_p("worker_id")],
                                                "responses": {"200": _OBJ, "404": _ERROR}}},
        "/health": {"get": {"summary": "Liveness and readiness (503 while the state cannot be committed)",
                            "security": [], "responses": {"200": _OBJ, "503": _OBJ}}},
        "/metrics": {"get": {"summary": "Prometheus text format", "responses": {
            "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": _OBJ}}},
        "/api/v1/protocol.json": {"get": {"summary": "The worker WebSocket protocol (/ws) as JSON Schema (draft 4): "
                                                     "one definition per message type",
                                          "responses": {"200": _OBJ}}},
    }
    paths.update(extra_paths or {})
    return {
        "openapi": "3.0.3",
        "info": {"title": "dtf coordinator API", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Task": TASK_SCHEMA, "TaskBatch": BATCH_SCHEMA, **CONFIG_SCHEMAS, "Error": {"type": "object", "properties": {"error": {
                "type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                                 "field": {"type": "string", "nullable": True}}}}}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


_OBJ_CONTENT = {"content": {"application/json": {"schema": {"type": "object"}}}}
EXTRA_PATHS: web.AppKey[dict] = web.AppKey("openapi_extra")


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(request.app.get(EXTRA_PATHS)))


async def protocol_json(request: web.Request) -> web.Response:
    return web.json_response(protocol.document())


def add_routes(app: web.Application) -> None:
    app[EXTRA_PATHS] = {}
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/api/v1/protocol.json", protocol_json)
