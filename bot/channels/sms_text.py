"""Text as an SMS carries it: GSM-7 where possible, cut into parts that each fit one SMS.

One SMS holds 160 characters of the GSM 03.38 alphabet (its extension characters, such as
"€" or "[", take two), or 70 UCS-2 code units once any character lies outside it. A basic
phone shows emoji and typographic marks as boxes, and one of them would turn the whole
message into UCS-2 (less than half the room), so they are replaced by plain characters or
left out first (`plain`).

Why we cut long texts ourselves instead of leaving concatenation to the gateway: the generic
"POST to this URL" gateways often truncate at 160 or refuse, the Android gateway's own
splitting happens on the phone where we cannot see how many SMS a message cost, and a part
that failed is resent alone (the sender's `skip`) rather than the whole message. Each part is
a standalone SMS with a "(1/3)" marker, so it reads in order even on a phone that does not
reassemble, and, having no concatenation header, it may use the full 160 (or 70).
"""

from __future__ import annotations

import unicodedata

GSM_LIMIT, UCS2_LIMIT = 160, 70
# GSM 03.38: the basic alphabet (one septet each, the escape character left out) and the
# extension table (two septets each: the escape, then the character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[]~|€\f")
# What our templates and people's typing use that GSM-7 lacks, as a basic phone should show it.
PLAIN = {
    "\u2022": "-",  # bullet
    "\u00b7": "-",  # middle dot
    "\u2014": "-",  # em dash
    "\u2013": "-",  # en dash
    "\u2011": "-",  # non-breaking hyphen
    "\u2026": "...",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2018": "'",
    "\u2019": "'",
    "`": "'",
    "\u25c2": "<",  # our "back" arrow
    "\u25b8": ">",  # our "more" arrow
    "\u2190": "<-",
    "\u2192": "->",
    "\u2b50": "*",  # a star of a rating
    "\u00a0": " ",
    "\t": " ",
}


def is_gsm(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENDED for char in text)


def units(text: str) -> int:
    """What `text` takes of one SMS: GSM-7 septets, or UCS-2 code units (a character beyond
    the Basic Multilingual Plane takes two)."""
    if is_gsm(text):
        return sum(2 if char in GSM_EXTENDED else 1 for char in text)
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def limit_for(text: str) -> int:
    """How much one SMS of this text holds: 160 in GSM-7, 70 once a character needs UCS-2."""
    return GSM_LIMIT if is_gsm(text) else UCS2_LIMIT


def plain(text: str) -> str:
    """The text with typographic marks made plain, letters with accents GSM-7 lacks written
    without them ("ā" → "a"), and emoji and other symbols left out; what is neither (another
    script, say) stays, and makes the message UCS-2."""
    out: list[str] = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENDED:
            out.append(char)
        elif char in PLAIN:
            out.append(PLAIN[char])
        elif unicodedata.category(char) in ("So", "Sk", "Cf", "Mn", "Cs", "Co"):
            continue  # emoji, their variation selectors and joiners, stray combining marks
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and is_gsm(base) else char)
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    return "\n".join(lines).strip()


def parts(text: str) -> list[str]:
    """The SMS to send for `text` (already `plain`): itself when it fits one, else parts of
    at most one SMS each, marked "(1/3) " in order."""
    limit = limit_for(text)
    if units(text) <= limit:
        return [text]
    width = 1
    while True:
        marker = len(f"({'9' * width}/{'9' * width}) ")
        chunks = _chunks(text, limit - marker, gsm=limit == GSM_LIMIT)
        if len(str(len(chunks))) <= width:
            return [f"({index}/{len(chunks)}) {chunk}" for index, chunk in enumerate(chunks, 1)]
        width += 1


def _chunks(text: str, room: int, *, gsm: bool) -> list[str]:
    """Cut `text` into pieces of at most `room` units: at a line end in the second half of a
    piece, else at a space, else in a word. (`split_text` counts characters and prefers any
    line end, which on SMS costs a message: "header:" alone in an SMS of its own.)"""
    pieces: list[str] = []
    rest = text
    while units(rest) > room:
        fit, used = 0, 0
        for char in rest:
            used += 2 if (char in GSM_EXTENDED if gsm else ord(char) > 0xFFFF) else 1
            if used > room:
                break
            fit += 1
        window = rest[: fit + 1]  # a cut just after the last character that fits is a clean one
        cut = window.rfind("\n")
        if cut < fit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = fit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    pieces.append(rest)
    return [piece for piece in pieces if piece]
