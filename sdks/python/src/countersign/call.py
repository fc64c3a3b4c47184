"""Calling one command of the contract over NATS request/reply (``packages/client/src/call.ts``)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel, ValidationError

from .errors import (
    ERROR_CODES,
    InternalError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnavailableError,
    typed_error,
)
from .models import MAX_PAYLOAD_BYTES
from .subjects import Endpoints, Headers, actor_subject

M = TypeVar("M", bound=BaseModel)


def encode(body: dict[str, Any]) -> bytes:
    """Compact JSON as the services read it; the 64 KiB limit is checked here, before sending."""
    try:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise InvalidRequestError(
            "invalid_request",
            f"request is not JSON-serialisable: {err}",
            {"fields": [{"path": "(root)", "message": str(err)}]},
        ) from err
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            "payload_too_large",
            f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES}",
            {"size": len(data), "limit": MAX_PAYLOAD_BYTES},
        )
    return data


async def call_endpoint(
    nc: NATS,
    subject: str,
    body: dict[str, Any],
    response: type[M],
    timeout: float,
    actor: str | None = None,
) -> M:
    """Sends one command and returns the parsed reply. A command that acts (submit, decide,
    cancel, report) goes to ``<subject>.<actor>``; without an actor it is refused here, naming the
    field. A service error reply becomes the typed :class:`CountersignError` of its code; no
    responder or no reply in time is ``unavailable``, which callers may retry."""
    field = Endpoints.ACTOR_FIELDS.get(subject)
    if field is not None:
        if actor is None:
            raise InvalidRequestError(
                "invalid_request",
                f"{subject} needs the identity that acts (the client's identity option, or {field})",
                {"fields": [{"path": field, "message": "required: who acts"}]},
            )
        subject = actor_subject(subject, actor)
    data = encode(body)
    try:
        reply = await nc.request(subject, data, timeout=timeout)
    except NoRespondersError as err:
        raise UnavailableError("unavailable", f"no service is answering {subject}", {"subject": subject}) from err
    except NatsTimeoutError as err:
        raise UnavailableError("unavailable", f"{subject} did not answer in time", {"subject": subject}) from err
    except Exception as err:
        raise UnavailableError("unavailable", f"request to {subject} failed: {err!r}", {"subject": subject}) from err
    return read_reply(subject, reply, response)


def _header(msg: Msg, name: str) -> str | None:
    for key, value in (msg.headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def read_reply(subject: str, reply: Msg, response: type[M]) -> M:
    """Parses a reply: a structured service error is raised as such, a malformed reply as ``internal``."""
    try:
        body: Any = None if len(reply.data) == 0 else json.loads(reply.data)
    except ValueError:
        body = ...
    status = _header(reply, Headers.SERVICE_ERROR_CODE)
    if status:
        error = body.get("error") if isinstance(body, dict) else None
        if (
            isinstance(error, dict)
            and error.get("code") in ERROR_CODES
            and isinstance(error.get("message"), str)
            and isinstance(error.get("details", {}), dict)
        ):
            raise typed_error(error["code"], error["message"], error.get("details"))
        raise InternalError("internal", f"{subject} failed ({status}): {_header(reply, Headers.SERVICE_ERROR)}")
    try:
        return response.model_validate(body)
    except ValidationError as err:
        raise InternalError(
            "internal", f"{subject} answered a reply that does not match the contract", {"subject": subject}
        ) from err
