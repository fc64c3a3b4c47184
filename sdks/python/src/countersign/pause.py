"""Pause and resume for agents (``packages/client/src/pause.ts``): a paused task is a
``task_pause`` approval, which the default policy always sends to a human. The task's owner is
the identity that paused it, and only that identity may resume it (the policy's resume rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import CountersignClient
from .models import Approval

#: The action type of a pause.
TASK_PAUSE = "task_pause"


@dataclass(frozen=True)
class ResumeResult:
    approval: Approval
    #: The resumer's message (the decision reason).
    message: str | None


async def pause(
    client: CountersignClient,
    task_id: str,
    *,
    reason: str,
    owner: str | None = None,
    timeout_seconds: int | None = None,
    context: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> ResumeResult:
    """Pauses a task until its owner resumes it: creates a ``task_pause`` approval and waits.
    The owner is the identity that pauses, the client's identity (``owner`` names it for a client
    without one; naming another is refused). Returns the resume message; raises
    ApprovalRejectedError when the pause is refused, ApprovalExpiredError when nobody resumed in
    time (``timeout_seconds``, the approval's window), WaitTimeoutError when this caller's own
    ``timeout`` (seconds) ran out."""
    request: dict[str, Any] = {
        "action_id": task_id,
        "action_type": TASK_PAUSE,
        "description": reason,
        "context": {**(context or {})},
    }
    if owner is not None:
        request["requested_by"] = owner
    if timeout_seconds:
        request["timeout_seconds"] = timeout_seconds
    approval = await client.request_and_wait(request, timeout=timeout)
    return ResumeResult(approval, approval.decision_reason)


async def resume(
    client: CountersignClient,
    task_id: str,
    *,
    message: str | None = None,
    resumed_by: str | None = None,
    reject: bool = False,
) -> Approval:
    """Wakes a paused task with a message, as the client's identity (or ``resumed_by`` for a
    client without one). Only the task's owner, the identity that paused it, may resume it:
    anyone else is refused (ForbiddenError, reason ``not_owner``) by the policy. ``reject``
    refuses instead, and the paused task gets ApprovalRejectedError."""
    return await client.decide(
        task_id,
        approved=not reject,
        decided_by=resumed_by,
        reason=message or None,
    )


async def list_paused(client: CountersignClient, limit: int = 100) -> list[Approval]:
    """Paused tasks waiting for a resume, newest first."""
    return (await client.list(status="pending", action_type=TASK_PAUSE, limit=limit)).items
