"""Canonical identities (``packages/contracts/src/identity.ts``): a person or system is one string
however it is typed. "Alice", "ALICE", " alice", "alice" in fullwidth letters and "alice" are the
same identity; names that only look like one (a zero-width space inside, a bidi override, a
Cyrillic letter among Latin ones) are refused rather than treated as someone new.

The services canonicalise every identity they receive with the TypeScript function; this one
gives the same answers (the vectors in ``packages/contracts/test-vectors/identities.json`` are
checked against both), so the SDK sends commands to the subject the service expects and refuses a
bad name before anything is sent. Characters assigned by Unicode versions newer than this
Python's are unassigned here and refused.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from ._scripts import CONFUSABLE_SCRIPTS

#: The names Countersign itself acts under; no caller may claim them.
SYSTEM_ACTORS: Final = ("policy", "countersign", "system")

MAX_IDENTITY_LENGTH: Final = 128

# Control, format (zero-width, bidi, BOM), line/paragraph separators, private use, unassigned.
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn"})
_SYMBOLS: Final = frozenset("_@+-")

_INVISIBLE_MESSAGE: Final = "must not contain control, format, bidi or zero-width characters"
_GRAMMAR_MESSAGE: Final = 'must be letters, digits and "_ - @ + ." (no spaces), starting with a letter or digit'


class IdentityError(ValueError):
    """Why a name is not an identity; the message is the one the services give."""


def is_system_actor(identity: str) -> bool:
    return identity in SYSTEM_ACTORS


def _is_surrounding_space(ch: str) -> bool:
    return ch == "\t" or unicodedata.category(ch) == "Zs"


def _trim_spaces(value: str) -> str:
    """``value`` without the spaces and tabs around it (any space separator, as ``\\p{Zs}``)."""
    start, end = 0, len(value)
    while start < end and _is_surrounding_space(value[start]):
        start += 1
    while end > start and _is_surrounding_space(value[end - 1]):
        end -= 1
    return value[start:end]


def _has_invisible(value: str) -> bool:
    return any(unicodedata.category(ch) in _INVISIBLE for ch in value)


def _utf16_length(value: str) -> int:
    # The limit counts UTF-16 code units, as JavaScript's String.length does.
    return len(value.encode("utf-16-le")) // 2


def _scripts_of(value: str) -> list[str]:
    code_points = [ord(ch) for ch in value]
    return [
        name
        for name, ranges in CONFUSABLE_SCRIPTS
        if any(low <= cp <= high for cp in code_points for low, high in ranges)
    ]


def _token_char(ch: str) -> bool:
    return ch in _SYMBOLS or unicodedata.category(ch)[0] in "LMN"


def _is_canonical_shape(identity: str) -> bool:
    """A run of NATS subject tokens (``approval.decide.<identity>``): letters, marks, digits and
    ``_ - @ + .``, starting with a letter or digit, no empty token."""
    if unicodedata.category(identity[0])[0] not in "LN":
        return False
    return all(token and all(_token_char(ch) for ch in token) for token in identity.split("."))


def _case_folded(text: str) -> str:
    """Upper- then lower-case (and NFKC) until a pass changes nothing; a few passes at most."""
    folded = text
    for _ in range(4):
        folded_again = unicodedata.normalize("NFKC", folded.upper().lower())
        if folded_again == folded:
            break
        folded = folded_again
    return folded


def canonical_identity(raw: str) -> str:
    """NFKC-normalises, case-folds and trims ``raw``, then checks what is left; raises
    :class:`IdentityError` saying what is wrong. Case folding is upper-then-lower case, which
    folds "ß" to "ss" as Unicode's full case folding does, repeated until nothing changes ("ẞ"
    lower-cases to "ß", which only a second pass folds to "ss"); the result is normalised again
    because folding can un-normalise. System actors are canonical names: see
    :func:`wire_identity`."""
    # Spaces and tabs around a name are trimmed; anything else invisible, anywhere, is refused.
    trimmed = _trim_spaces(raw)
    if _has_invisible(trimmed):
        raise IdentityError(_INVISIBLE_MESSAGE)
    identity = _case_folded(unicodedata.normalize("NFKC", trimmed)).strip()
    if identity == "":
        raise IdentityError("must not be empty")
    if _has_invisible(identity):
        raise IdentityError(_INVISIBLE_MESSAGE)
    if _utf16_length(identity) > MAX_IDENTITY_LENGTH:
        raise IdentityError(f"must be at most {MAX_IDENTITY_LENGTH} characters")
    scripts = _scripts_of(identity)
    if len(scripts) > 1:
        raise IdentityError(f"must not mix confusable scripts ({', '.join(scripts)})")
    if not _is_canonical_shape(identity):
        raise IdentityError(_GRAMMAR_MESSAGE)
    return identity


def wire_identity(raw: str) -> str:
    """An identity field of a request (the contract's ``Identity``): canonical, and never one of
    the system actors."""
    identity = canonical_identity(raw)
    if is_system_actor(identity):
        raise IdentityError(f'"{identity}" is reserved for Countersign itself')
    return identity


def inbox_prefix_of(identity: str) -> str:
    """The reply-inbox prefix of an identity's NATS connections: the server lets that user
    subscribe only under it, so nobody reads replies meant for someone else. One subject token:
    dots (``john.doe``) become ``~``, which an identity never contains."""
    return "_INBOX_" + canonical_identity(identity).replace(".", "~")
