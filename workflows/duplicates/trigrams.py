"""Text similarity as PostgreSQL's pg_trgm measures it, in Python: the same number on SQLite,
or on a PostgreSQL where the extension may not be created, as `similarity()` gives.

pg_trgm lower-cases the text, splits it into words of letters and digits, pads each word with
two spaces before and one after, and takes the set of its three-character slices; two texts'
similarity is the share of trigrams they have in common (shared / all distinct). Reports of the
same person differ in word order, spelling and length, which this measure shrugs off better
than comparing words.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")  # letters and digits, as pg_trgm's word characters


def trigrams(text: str) -> frozenset[str]:
    padded = ["  " + word + " " for word in _WORD.findall(text.lower())]
    return frozenset({word[i : i + 3] for word in padded for i in range(len(word) - 2)})


def similarity(left: str, right: str) -> float:
    """pg_trgm's `similarity(left, right)`: 0 (nothing shared) to 1 (the same trigrams)."""
    return overlap(trigrams(left), trigrams(right))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """`similarity` of two texts' trigram sets (one text's set is made once for many others)."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)
