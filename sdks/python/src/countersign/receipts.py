"""Checking decision receipts (``packages/client/src/receipts.ts``; docs/contract.md, "Receipts"):
the compact JWS (EdDSA over Ed25519) the approval service signs when an approval becomes terminal.
Deliberately narrow: exactly one algorithm and one ``typ``, keys only from the JWK Set the caller
trusts (fetched from the service or pinned), never from the token."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .models import Approval

RECEIPT_TYP = "countersign-receipt+jwt"
RECEIPT_ALG = "EdDSA"

ReceiptErrorCode = Literal[
    "missing", "malformed", "bad_header", "unknown_kid", "bad_signature", "bad_claims", "mismatch", "keys_unavailable"
]

_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_CLAIMS = ("iss", "sub", "iat", "action_id", "request_hash", "status", "requested_by", "decided_by", "decided_at")
_TERMINAL = ("approved", "rejected", "expired", "cancelled")


class ReceiptInvalidError(Exception):
    """A decision whose receipt does not check out: never act on it. ``code`` says why."""

    def __init__(self, code: ReceiptErrorCode, message: str, approval: Approval | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: The approval the receipt came with, when there was one.
        self.approval = approval


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as err:
        raise ReceiptInvalidError("malformed", "a receipt part is not base64url") from err


def _json_part(part: str, what: str) -> Any:
    try:
        return json.loads(_b64decode(part))
    except (ValueError, UnicodeDecodeError) as err:
        raise ReceiptInvalidError("malformed", f"the receipt's {what} is not base64url JSON") from err


def receipt_kid(token: str) -> str:
    """The kid a receipt names, its header checked first."""
    return _decode(token)[0]


def _decode(token: str) -> tuple[str, bytes, bytes, Any]:
    parts = token.split(".")
    if len(parts) != 3 or not all(_PART.match(p) for p in parts):
        raise ReceiptInvalidError("malformed", "a receipt is a compact JWS: three base64url parts")
    header = _json_part(parts[0], "header")
    if not isinstance(header, dict):
        raise ReceiptInvalidError("malformed", "the receipt's header is not a JSON object")
    # One algorithm only: `none`, HS256 (a public key used as an HMAC secret) and every other
    # name are refused before any key is touched (RFC 8725 section 3.1).
    if header.get("alg") != RECEIPT_ALG:
        raise ReceiptInvalidError("bad_header", f"alg must be {RECEIPT_ALG}, not {json.dumps(header.get('alg'))}")
    if header.get("typ") != RECEIPT_TYP:
        raise ReceiptInvalidError("bad_header", f"typ must be {RECEIPT_TYP}, not {json.dumps(header.get('typ'))}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ReceiptInvalidError("bad_header", "the header names no kid")
    if "crit" in header or "b64" in header:
        raise ReceiptInvalidError("bad_header", "the header asks for JWS extensions (crit, b64)")
    signature = _b64decode(parts[2])
    if len(signature) != 64:
        raise ReceiptInvalidError("malformed", "an Ed25519 signature is 64 bytes")
    return kid, f"{parts[0]}.{parts[1]}".encode(), signature, _json_part(parts[1], "payload")


def _key(jwks: Mapping[str, Any], kid: str) -> Ed25519PublicKey:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise ReceiptInvalidError("keys_unavailable", "the key set is not a JWK Set")
    for jwk in keys:
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
                raise ReceiptInvalidError("keys_unavailable", f"key {kid} is not an Ed25519 public key")
            raw = _b64decode(jwk["x"])
            if len(raw) != 32:
                raise ReceiptInvalidError("keys_unavailable", f"key {kid} is not an Ed25519 public key")
            return Ed25519PublicKey.from_public_bytes(raw)
    raise ReceiptInvalidError("unknown_kid", f"no trusted key has kid {kid}")


def verify_receipt(
    token: str,
    jwks: Mapping[str, Any],
    *,
    action_id: str | None = None,
    request_hash: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Checks a receipt against a JWK Set: header, signature, claims, and that it attests the
    given ``action_id``, ``request_hash`` and ``status``. Returns its claims; raises
    :class:`ReceiptInvalidError` otherwise."""
    kid, signing_input, signature, claims = _decode(token)
    try:
        _key(jwks, kid).verify(signature, signing_input)
    except InvalidSignature as err:
        raise ReceiptInvalidError("bad_signature", f"the signature does not verify with key {kid}") from err
    if not isinstance(claims, dict) or any(not claims.get(name) for name in _CLAIMS):
        raise ReceiptInvalidError("bad_claims", "the signed payload is not a receipt")
    if claims["status"] not in _TERMINAL or not isinstance(claims.get("votes"), list):
        raise ReceiptInvalidError("bad_claims", "the signed payload is not a receipt")
    for field, want in (("action_id", action_id), ("request_hash", request_hash), ("status", status)):
        if want is not None and claims[field] != want:
            raise ReceiptInvalidError("mismatch", f"the receipt attests {field} {claims[field]}, not {want}")
    return claims


def receipt_sha256(token: str) -> str:
    """SHA-256 (hex) of a receipt: how an execution report references the receipt it acted on."""
    return hashlib.sha256(token.encode()).hexdigest()


class ReceiptKeys:
    """The trusted keys: pinned ones only, or the service's key set, fetched on first use and
    fetched again once when a receipt names a kid it does not hold (a rotation since)."""

    def __init__(
        self, fetch: Callable[[], Awaitable[Mapping[str, Any]]] | None, pinned: Mapping[str, Any] | None = None
    ) -> None:
        self._fetch = fetch
        self._jwks = pinned
        self._lock = asyncio.Lock()

    async def verify(self, token: str, **expected: str | None) -> dict[str, Any]:
        kid = receipt_kid(token)
        jwks = self._jwks if self._jwks is not None else await self._refresh()
        known = any(isinstance(k, dict) and k.get("kid") == kid for k in jwks.get("keys", []))
        if self._fetch is not None and not known:
            jwks = await self._refresh()
        return verify_receipt(token, jwks, **expected)

    async def _refresh(self) -> Mapping[str, Any]:
        if self._fetch is None:
            raise ReceiptInvalidError("keys_unavailable", "no key set to verify receipts with")
        async with self._lock:
            try:
                self._jwks = await self._fetch()
            except Exception as err:
                raise ReceiptInvalidError("keys_unavailable", f"could not read the receipt keys: {err}") from err
            return self._jwks


async def check_approval_receipt(
    keys: ReceiptKeys, approval: Approval, request_hash: str | None = None
) -> dict[str, Any]:
    """Checks the receipt a terminal approval came with: signed by a trusted key, attesting this
    approval's action_id and status (and ``request_hash``, the hash of what was sent, when given)."""
    if not approval.receipt:
        raise ReceiptInvalidError("missing", f"approval {approval.action_id} carries no receipt", approval)
    if approval.status == "pending":
        raise ReceiptInvalidError("mismatch", f"approval {approval.action_id} is still pending", approval)
    try:
        return await keys.verify(
            approval.receipt, action_id=approval.action_id, status=approval.status, request_hash=request_hash
        )
    except ReceiptInvalidError as err:
        raise ReceiptInvalidError(err.code, err.message, approval) from err
