"""The ticket lifecycle as one readable transition table.

new → assigned → in progress → waiting for citizen | referred → resolved → closed, plus
rejected (with a reason the citizen is told) and reopened (the citizen says it is not fixed).
A ticket an officer finds to be about the same case as another is linked to it: it waits,
without deadlines of its own, while that case is worked, and is resolved or rejected with it
(or unlinked, and worked on its own again).
An action not allowed from the current status raises `IllegalTransition`, which callers turn
into a clear message; nothing is silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = (
    "new",
    "assigned",
    "in_progress",
    "waiting_citizen",
    "referred",
    "resolved",
    "closed",
    "rejected",
    "reopened",
    "linked",
)
OPEN = frozenset({"new", "assigned", "in_progress", "waiting_citizen", "referred", "reopened"})


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str


def _move(sources: str, target: str) -> Move:
    return Move(frozenset(sources.split()), target)


# action: which statuses it may start from, and where it leads.
TRANSITIONS: dict[str, Move] = {
    "assign": _move("new assigned in_progress waiting_citizen referred reopened", "assigned"),
    "accept": _move("assigned reopened", "in_progress"),
    "ask_citizen": _move("in_progress referred", "waiting_citizen"),
    "citizen_replied": _move("waiting_citizen", "in_progress"),
    "refer": _move("in_progress waiting_citizen referred", "referred"),
    "referrals_done": _move("referred", "in_progress"),
    "resolve": _move("in_progress waiting_citizen referred", "resolved"),
    "close": _move("resolved", "closed"),
    "reject": _move("new assigned in_progress waiting_citizen reopened", "rejected"),
    "reopen": _move("resolved closed", "reopened"),
    "return": _move("assigned in_progress reopened", "new"),
    "expire": _move("waiting_citizen", "closed"),  # the citizen never answered the question
    "link": _move("new assigned in_progress waiting_citizen reopened", "linked"),
    "unlink": _move("linked", "new"),
    "case_resolved": _move("linked", "resolved"),  # the case it was linked to was resolved
    "case_rejected": _move("linked", "rejected"),
}


class IllegalTransition(Exception):
    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"cannot {action} a ticket that is {status}")
        self.status = status
        self.action = action


def next_status(status: str, action: str) -> str:
    """Where `action` takes a ticket in `status`, or IllegalTransition."""
    move = TRANSITIONS.get(action)
    if move is None or status not in move.sources:
        raise IllegalTransition(status, action)
    return move.target


def allowed_actions(status: str) -> list[str]:
    return [action for action, move in TRANSITIONS.items() if status in move.sources]
