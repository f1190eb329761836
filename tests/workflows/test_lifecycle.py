"""The transition table: the happy path, and every illegal move refused."""

from __future__ import annotations

import pytest

from workflows.lifecycle import STATUSES, TRANSITIONS, IllegalTransition, allowed_actions, next_status


def test_the_whole_path_of_a_referred_case() -> None:
    status = "new"
    for action, expected in [
        ("assign", "assigned"),
        ("accept", "in_progress"),
        ("ask_citizen", "waiting_citizen"),
        ("citizen_replied", "in_progress"),
        ("refer", "referred"),
        ("referrals_done", "in_progress"),
        ("resolve", "resolved"),
        ("close", "closed"),
    ]:
        status = next_status(status, action)
        assert status == expected


def test_a_resolved_case_can_be_reopened_and_worked_again() -> None:
    assert next_status("resolved", "reopen") == "reopened"
    assert next_status("reopened", "accept") == "in_progress"


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_move_not_in_the_table_is_refused(status: str, action: str) -> None:
    if status in TRANSITIONS[action].sources:
        assert next_status(status, action) == TRANSITIONS[action].target
    else:
        with pytest.raises(IllegalTransition) as refused:
            next_status(status, action)
        assert (refused.value.status, refused.value.action) == (status, action)


def test_closed_and_rejected_tickets_cannot_be_worked() -> None:
    assert allowed_actions("rejected") == []
    assert allowed_actions("closed") == ["reopen"]
    with pytest.raises(IllegalTransition):
        next_status("closed", "resolve")
