"""The pure conversation engine: `Engine.step(state, event, now) -> Outcome`."""

from workflows.engine.effects import (
    AddFile,
    DropAttachments,
    Effect,
    OpenDataRights,
    OpenTicket,
    Option,
    RecordConsent,
    RelayReply,
    ReopenTicket,
    Say,
    SetLanguage,
    ShowStatus,
    SubmitSurvey,
)
from workflows.engine.engine import Engine, Outcome
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState

__all__ = [
    "AddFile",
    "ConversationState",
    "DropAttachments",
    "Effect",
    "Engine",
    "Inbound",
    "OpenDataRights",
    "OpenTicket",
    "Option",
    "Outcome",
    "RecordConsent",
    "RelayReply",
    "ReopenTicket",
    "Say",
    "SetLanguage",
    "ShowStatus",
    "SubmitSurvey",
]
