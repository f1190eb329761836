"""The public-satisfaction index (IKM) as PermenPAN-RB 14/2017 defines it.

Each complete response answers all nine elements 1–4. The unit's index is the unweighted mean
of the nine element means (each element weighs 1/9), times 25, so 25–100, graded A 88.31–100
(Sangat Baik), B 76.61–88.30 (Baik), C 65.00–76.60 (Kurang Baik), D 25.00–64.99 (Tidak Baik).
A response missing an element is not counted: the chat's short survey asks only a few, and a
mean of three questions is not the index.

The margin of error goes with the index, as the regulation asks a sample to be stated: every
response answers every element, so the index is also the mean of each respondent's own index
(25 × the mean of their nine answers), and its 95% margin is 1.96 × s / √n, with s the standard
deviation of those per-respondent indexes (n - 1 in the denominator). It needs two responses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FACTOR = 25  # the 1–4 scale to 25–100
Z95 = 1.96
# (grade, lowest index of the grade, its name in the regulation), best first.
BANDS: tuple[tuple[str, float, str], ...] = (
    ("A", 88.31, "Sangat Baik"),
    ("B", 76.61, "Baik"),
    ("C", 65.00, "Kurang Baik"),
    ("D", 25.00, "Tidak Baik"),
)


@dataclass(frozen=True)
class Index:
    """The index of one unit over one period."""

    responses: int
    element_means: Mapping[str, float]  # element key → mean answer (1–4)
    value: float  # 25–100, two decimals
    grade: str
    grade_name: str
    margin: float | None  # ± at 95%, None below two responses


def answers_of(scores: Mapping[str, Any] | None, elements: Sequence[str]) -> list[int] | None:
    """A response's nine answers in element order, or None when it is not complete."""
    found = []
    for key in elements:
        value = (scores or {}).get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            return None
        found.append(value)
    return found


def band(value: float) -> tuple[str, str]:
    """The grade of an index (compared at the two decimals it is reported with)."""
    rounded = round(value, 2)
    return next(((grade, name) for grade, low, name in BANDS if rounded >= low), ("D", "Tidak Baik"))


def index(responses: Iterable[Mapping[str, Any] | None], elements: Sequence[str]) -> Index | None:
    """The IKM of `responses` (score dicts by element key) over `elements` (the nine keys);
    incomplete responses are left out; None when no complete one is left."""
    complete = [a for a in (answers_of(r, elements) for r in responses) if a is not None]
    n = len(complete)
    if n == 0:
        return None
    means = {key: sum(a[i] for a in complete) / n for i, key in enumerate(elements)}
    value = sum(means.values()) / len(elements) * FACTOR
    own = [sum(a) / len(elements) * FACTOR for a in complete]
    margin = None
    if n >= 2:
        centre = sum(own) / n
        deviation = math.sqrt(sum((x - centre) ** 2 for x in own) / (n - 1))
        margin = round(Z95 * deviation / math.sqrt(n), 2)
    grade, name = band(value)
    return Index(n, means, round(value, 2), grade, name, margin)
