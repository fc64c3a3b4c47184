"""The request hash: what binds an approval to the exact request it answers
(``packages/contracts/src/request-hash.ts``; docs/contract.md, "Request hash").

The SDK compares the approval's ``request_hash`` with the hash of what it sent, so an action_id
filed first by someone else (a squatted id) or a forged decided event is never taken for its own
approval. The bytes must equal what the services compute in JavaScript: keys sorted by UTF-16
code units, numbers written as JavaScript writes them, no whitespace, non-ASCII unescaped.
packages/contracts/test-vectors/request-hashes.json pins the form.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from .models import ApprovalRequest

# Integers beyond this are doubles in JavaScript: they hash as the service reads them.
_MAX_SAFE_INTEGER = 2**53 - 1


def _number(value: float) -> str:
    """ECMAScript Number::toString: the shortest round-trip digits, in JavaScript's notation."""
    if not math.isfinite(value):
        raise ValueError("JSON has no NaN or Infinity")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    if whole == "0":
        stripped = fraction.lstrip("0")
        point = int(exponent or 0) - (len(fraction) - len(stripped))
        digits = stripped
    else:
        point = len(whole) + int(exponent or 0)
        digits = whole + fraction
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        e = point - 1
        text = digits[0] + (f".{digits[1:]}" if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + text


def canonical_json(value: Any) -> str:
    """JSON with object keys sorted at every level by UTF-16 code units, as JavaScript sorts."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value) if abs(value) <= _MAX_SAFE_INTEGER else _number(float(value))
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(value[k])}" for k in keys) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def request_hash(request: ApprovalRequest) -> str:
    """sha256 (lowercase hex) of the canonical JSON of the parsed request as it is sent."""
    return hashlib.sha256(canonical_json(request.to_wire()).encode("utf-8")).hexdigest()
