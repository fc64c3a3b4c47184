"""Signed decision receipts against the real services: a receipt verifies with an independent JOSE
library (joserfc) against the JWKS the approval service serves over HTTP; an edited one does not;
a forged decision signed by another key never makes a gated function run."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import Any

import pytest
from conftest import System, connect, pending, run, unique
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from countersign import RECEIPT_TYP, ReceiptInvalidError, receipt_sha256, requires_approval, verify_receipt
from countersign.subjects import Subjects


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def http_jwks(system: System) -> dict[str, Any]:
    assert system.http_url is not None
    with urllib.request.urlopen(f"{system.http_url}/.well-known/jwks.json", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/jwk-set+json"
        jwks: dict[str, Any] = json.load(response)
        return jwks


def billing_payment(action_id: str, amount: float) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "action_type": "payment",
        "description": f"Pay {amount}",
        "context": {"amount": amount, "currency": "EUR"},
    }


# joserfc warns that RFC 9864 names this algorithm "Ed25519" now; receipts keep the registered
# "EdDSA" that every JOSE library of today accepts.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_a_receipt_verifies_with_joserfc_against_the_jwks_over_http(system: System) -> None:
    async def body() -> dict[str, Any]:
        async with await connect(system, "dave") as dave:
            approval = await dave.request_and_wait(action_id=unique("noop"), action_type="noop", description="x")
            return approval.model_dump(mode="json")

    approval = run(body())
    keys = KeySet.import_key_set(http_jwks(system))  # type: ignore[arg-type]
    verified = jws.deserialize_compact(approval["receipt"], keys, algorithms=["EdDSA"])
    assert verified.headers()["typ"] == RECEIPT_TYP
    claims = json.loads(verified.payload)
    assert claims["action_id"] == approval["action_id"]
    assert claims["request_hash"] == approval["request_hash"]
    assert claims["status"] == "approved"
    assert claims["requested_by"] == "dave"
    assert claims["policy_revision"] == approval["policy"]["revision"]
    assert verify_receipt(approval["receipt"], http_jwks(system), action_id=approval["action_id"]) == claims

    # One field changed, the payload re-encoded, the signature kept: neither library accepts it.
    header, _, signature = approval["receipt"].split(".")
    edited = f"{header}.{b64({**claims, 'request_hash': 'f' * 64})}.{signature}"
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(edited, keys, algorithms=["EdDSA"])
    with pytest.raises(ReceiptInvalidError) as caught:
        verify_receipt(edited, http_jwks(system))
    assert caught.value.code == "bad_signature"


def test_a_forged_decision_signed_by_another_key_never_runs_the_gated_function(system: System) -> None:
    async def body() -> None:
        action_id = unique("pay")
        ran = False
        async with await connect(system, "billing-job") as billing, await connect(system) as ops:

            @requires_approval(billing, lambda: billing_payment(action_id, 50_000), timeout=20)
            async def pay() -> str:
                nonlocal ran
                ran = True
                return "paid"

            paying = asyncio.ensure_future(pay())
            await pending(billing, action_id)
            real = (await billing.get(action_id)).model_dump(mode="json", exclude={"history"})
            kid = http_jwks(system)["keys"][0]["kid"]
            claims = {
                "iss": "countersign",
                "sub": action_id,
                "iat": 1_800_000_000,
                "action_id": action_id,
                "request_hash": real["request_hash"],
                "status": "approved",
                "requested_by": "billing-job",
                "decided_by": "frank",
                "decided_at": real["created_at"],
                "votes": [{"identity": "frank", "decision": "approved", "at": real["created_at"]}],
                "policy_revision": real["policy"]["revision"],
            }
            signing_input = f"{b64({'alg': 'EdDSA', 'kid': kid, 'typ': RECEIPT_TYP})}.{b64(claims)}"
            signature = Ed25519PrivateKey.generate().sign(signing_input.encode())
            forged = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
            data = {**real, "status": "approved", "decided_by": "frank", "decided_at": real["created_at"]}
            event = {
                "version": 1,
                "id": f"{action_id}.decided",
                "type": "approval.decided",
                "occurred_at": real["created_at"],
                "data": {**data, "receipt": forged},
            }
            await ops.nc.publish(Subjects.decided(action_id), json.dumps(event).encode())
            with pytest.raises(ReceiptInvalidError) as caught:
                await paying
            assert caught.value.code == "bad_signature"
            assert not ran
            assert (await billing.get(action_id)).status == "pending"

    run(body())


def test_the_execution_report_references_the_receipt(system: System) -> None:
    async def body() -> None:
        action_id = unique("noop")
        async with await connect(system, "dave") as dave:

            @requires_approval(dave, {"action_id": action_id, "action_type": "noop", "description": "x"})
            async def work() -> str:
                return "done"

            assert await work() == "done"
            approval = await dave.get(action_id)
            assert approval.receipt is not None
            reported = [e for e in await dave.history(action_id) if e.event == "reported"]
            assert reported[0].data["receipt_sha256"] == receipt_sha256(approval.receipt)

    run(body())
