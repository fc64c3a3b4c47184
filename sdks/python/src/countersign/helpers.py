"""Requests the default policy understands, built from a few arguments
(``packages/client/src/helpers.ts``): deploys, charges and commands. ``requested_by`` may be
left out when the client has an identity (it is that identity)."""

from __future__ import annotations

from typing import Any

from .client import CountersignClient, new_action_id
from .models import Approval


def _optional(run_id: str | None, timeout_seconds: int | None) -> dict[str, Any]:
    return {
        **({"run_id": run_id} if run_id else {}),
        **({"timeout_seconds": timeout_seconds} if timeout_seconds else {}),
    }


async def request_deployment_approval(
    client: CountersignClient,
    *,
    service: str,
    environment: str,
    requested_by: str | None = None,
    version: str | None = None,
    action_id: str | None = None,
    description: str | None = None,
    context: dict[str, Any] | None = None,
    run_id: str | None = None,
    timeout_seconds: int | None = None,
    timeout: float | None = None,
) -> Approval:
    """Approval for a deployment (``deploy``): production needs ops by default."""
    return await client.request_and_wait(
        {
            "action_id": action_id or new_action_id(f"deploy-{service}"),
            "action_type": "deploy",
            "description": description or f"Deploy {service}{f' {version}' if version else ''} to {environment}",
            **({"requested_by": requested_by} if requested_by else {}),
            "context": {
                **(context or {}),
                "environment": environment,
                "resource": service,
                **({"version": version} if version else {}),
            },
            **_optional(run_id, timeout_seconds),
        },
        timeout=timeout,
    )


async def request_billing_approval(
    client: CountersignClient,
    *,
    amount: float,
    currency: str,
    customer: str,
    requested_by: str | None = None,
    action_id: str | None = None,
    description: str | None = None,
    context: dict[str, Any] | None = None,
    run_id: str | None = None,
    timeout_seconds: int | None = None,
    timeout: float | None = None,
) -> Approval:
    """Approval for a charge (``create_billing``): the amount thresholds of the policy apply."""
    return await client.request_and_wait(
        {
            "action_id": action_id or new_action_id("billing"),
            "action_type": "create_billing",
            "description": description or f"Charge {customer} {amount:g} {currency}",
            **({"requested_by": requested_by} if requested_by else {}),
            "context": {**(context or {}), "amount": amount, "currency": currency, "resource": customer},
            **_optional(run_id, timeout_seconds),
        },
        timeout=timeout,
    )


async def request_code_execution_approval(
    client: CountersignClient,
    *,
    command: str,
    requested_by: str | None = None,
    environment: str | None = None,
    action_id: str | None = None,
    description: str | None = None,
    context: dict[str, Any] | None = None,
    run_id: str | None = None,
    timeout_seconds: int | None = None,
    timeout: float | None = None,
) -> Approval:
    """Approval to run a command (``code_execution``): a sensitive action, security reviews it."""
    return await client.request_and_wait(
        {
            "action_id": action_id or new_action_id("exec"),
            "action_type": "code_execution",
            "description": description or f"Run: {command[:200]}",
            **({"requested_by": requested_by} if requested_by else {}),
            "context": {
                **(context or {}),
                "command": command,
                **({"environment": environment} if environment else {}),
            },
            **_optional(run_id, timeout_seconds),
        },
        timeout=timeout,
    )
