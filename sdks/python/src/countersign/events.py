"""Reading the approval event envelope with the contract's rules (``packages/contracts/src/events.ts``).

An envelope without ``version`` was written before the field existed and reads as version 1;
any other version is refused with an ``invalid_request`` error naming the ``version`` field,
because its fields may mean something else. Decoding never raises: it returns the event or a
refusal saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from .errors import InvalidRequestError
from .models import ApprovalEvent, field_issues

#: The envelope version this reader understands (and producers write).
APPROVAL_EVENT_VERSION = 1

RefusalReason = Literal["not_json", "unsupported_version", "invalid"]


@dataclass(frozen=True)
class EventRefusal:
    """Why a message is not an event a reader can use."""

    reason: RefusalReason
    error: InvalidRequestError


def decode_approval_event(data: bytes | str) -> ApprovalEvent | EventRefusal:
    """Reads an event message: one JSON parse, the version rule, one schema check. Never raises."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        return _refuse(
            "not_json",
            f"approval event is not valid JSON: {err}",
            [{"path": "(root)", "message": "not valid JSON"}],
        )
    return check_approval_event(value)


def _is_supported(version: Any) -> bool:
    # JSON `true` is not 1 here, although Python's True == 1.
    return not isinstance(version, bool) and isinstance(version, (int, float)) and version == APPROVAL_EVENT_VERSION


def check_approval_event(value: Any) -> ApprovalEvent | EventRefusal:
    """:func:`decode_approval_event` for a value parsed already."""
    if isinstance(value, dict) and "version" in value and not _is_supported(value["version"]):
        shown = json.dumps(value["version"])[:40]
        return _refuse(
            "unsupported_version",
            f"unsupported approval event version {shown}: this reader understands version "
            f'{APPROVAL_EVENT_VERSION} (an envelope without "version" is version 1)',
            [{"path": "version", "message": f"unsupported version {shown}; supported: {APPROVAL_EVENT_VERSION}"}],
            {"supported_versions": [APPROVAL_EVENT_VERSION]},
        )
    try:
        if isinstance(value, dict) and "version" in value:
            value = {**value, "version": APPROVAL_EVENT_VERSION}
        return ApprovalEvent.model_validate(value)
    except ValidationError as err:
        fields = field_issues(err)
        summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields[:5])
        return _refuse("invalid", f"not an ApprovalEvent: {summary}", fields)


def _refuse(
    reason: RefusalReason, message: str, fields: list[dict[str, str]], extra: dict[str, Any] | None = None
) -> EventRefusal:
    return EventRefusal(reason, InvalidRequestError("invalid_request", message, {"fields": fields, **(extra or {})}))
