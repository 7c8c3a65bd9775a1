"""The documented bounds on what the ledger accepts (docs/limits.md), defined once.

Every bound is enforced where input enters, with a one-line error that names it; nothing is
written when one is exceeded. The values are generous for real use and small enough that one
hostile line or batch cannot exhaust memory, the stack or the decimal context.
"""

from __future__ import annotations

from domain.core.errors import TooManyParticipantsError

# A command line (a JSON Lines line, or the body of POST /commands), in bytes of UTF-8.
MAX_LINE_BYTES = 1_000_000
# Arrays and objects nested in one line. A command needs 3 (command, fills, fill) and a batch 4.
MAX_JSON_DEPTH = 16
# Commands in one JSON batch (an array posted to POST /commands).
MAX_BATCH_COMMANDS = 1_000
# Takeover fills in one liquidation, marks in one cycle command, rates in one policy change.
MAX_FILLS = 1_000
MAX_MARKS = 1_000
# Ids (commands, accounts, cycles) and contract names, in characters.
MAX_IDENTIFIER_CHARS = 128
MAX_CONTRACT_CHARS = 32
# Digits of a decimal string, before and after the point, and its whole length (sign, leading
# zeros and the point included).
MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 18
MAX_DECIMAL_CHARS = 64
# The characters of an id, a contract name and an asset code (regular expressions, anchored).
IDENTIFIER_PATTERN = rf"^[A-Za-z0-9_.:@\-]{{1,{MAX_IDENTIFIER_CHARS}}}$"
CONTRACT_PATTERN = rf"^[A-Za-z0-9_.\-]{{1,{MAX_CONTRACT_CHARS}}}$"
ASSET_PATTERN = r"^[A-Z0-9]{1,12}$"
# The free-text reason of a refund.
MAX_REASON_CHARS = 500
# Participants selected to share one cycle's loss.
MAX_PARTICIPANTS_PER_CYCLE = 10_000_000
# How much of a refused value an error message quotes, in characters of its repr.
MAX_QUOTED_CHARS = 40


def quoted(value: object) -> str:
    """A refused value for a one-line message: its repr (which escapes every line break and
    control character), cut to MAX_QUOTED_CHARS."""
    text = repr(value)
    if len(text) > MAX_QUOTED_CHARS:
        return text[: MAX_QUOTED_CHARS - 3] + "..."
    return text


def require_participants_within_limit(count: int, cycle: str) -> None:
    """Refuse a settlement whose selection exceeds MAX_PARTICIPANTS_PER_CYCLE.

    Called once the waterfall is computed and before any event of the settlement is recorded,
    so that a refusal writes nothing. The bound is read at call time (tests lower it).
    """
    if count > MAX_PARTICIPANTS_PER_CYCLE:
        raise TooManyParticipantsError(
            f"settling cycle {cycle} would select {count} participants, more than the "
            f"{MAX_PARTICIPANTS_PER_CYCLE} a cycle may have"
        )
