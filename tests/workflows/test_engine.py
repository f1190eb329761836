"""The engine, conversation by conversation: what a citizen types, what the bot decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.engine import (
    AddFile,
    ConversationState,
    DropAttachments,
    Engine,
    Inbound,
    OpenDataRights,
    OpenTicket,
    RecordConsent,
    Say,
    SetLanguage,
    ShowStatus,
)
from workflows.flowbook import DATA_DIR, load_flowbook
from workflows.texts import Texts

BOOK = load_flowbook()
ENGINE = Engine(BOOK, ttl=timedelta(hours=24))
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
VALID_NIK = "3471014507850001"  # Yogyakarta, woman born 5 Jul 1985


class Chat:
    """One citizen talking to the engine; keeps the state between messages like storage does."""

    def __init__(self, state: ConversationState | None = None, engine: Engine = ENGINE) -> None:
        self.engine = engine
        self.state = state or ConversationState()
        self.now = NOW
        self.last: tuple[Any, ...] = ()

    def event(self, event: Inbound) -> tuple[Any, ...]:
        outcome = self.engine.step(self.state, event, self.now)
        self.state = outcome.state
        self.last = outcome.effects
        return outcome.effects

    def type(self, text: str) -> tuple[Any, ...]:
        return self.event(Inbound(kind="text", text=text))

    def press(self, value: str) -> tuple[Any, ...]:
        step = self.question.step
        assert value in [o.value for o in self.question.options], f"{value} not offered: {self.question}"
        return self.event(Inbound(kind="choice", value=value, step=step))

    @property
    def question(self) -> Say:
        says = [e for e in self.last if isinstance(e, Say)]
        return says[-1]

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.last if isinstance(e, Say)]


def start_complaint(chat: Chat) -> None:
    chat.type("/start")
    chat.press("complaint")


def file_until(chat: Chat, step: str, subject: str = "self") -> None:
    """Walk the complaint flow with good answers until `step` is being asked."""
    start_complaint(chat)
    script = [
        ("consent", lambda: chat.press("agree")),
        ("category", lambda: (chat.press("lansia"), chat.press("lansia_telantar"))),
        ("subject", lambda: chat.press(subject)),
        ("person_name", lambda: chat.type("Mbah Sarinah")),
        ("person_nik", lambda: chat.type(VALID_NIK)),
        ("person_age", lambda: chat.type("81")),
        ("person_sex", lambda: chat.press("P")),
        ("village", lambda: (chat.press("34.71.04"), chat.press("34.71.04.1001"))),
        ("address", lambda: chat.type("Jl. Imogiri Timur, RT 03/RW 02, dekat masjid")),
        ("location", lambda: chat.event(Inbound(kind="location", latitude=-7.83, longitude=110.39))),
        ("photos", lambda: (chat.event(Inbound(kind="photo", attachment_id=11)), chat.press("done"))),
        ("description", lambda: chat.type("Nenek tinggal sendiri, tidak ada yang merawat, sering tidak makan.")),
        ("reporter_phone", lambda: chat.type("0812-3456-7890")),
    ]
    for name, answer in script:
        if chat.state.step == step:
            return
        assert chat.state.step == name, (chat.state.step, name, chat.keys)
        answer()
    assert chat.state.step == step


def test_start_greets_and_offers_the_menu() -> None:
    chat = Chat()
    chat.type("/start")
    assert chat.keys == ["menu/welcome", "menu/main"]
    assert [o.value for o in chat.question.options] == ["complaint", "service", "status", "mydata"]


def test_a_whole_complaint_opens_a_ticket_with_every_answer() -> None:
    chat = Chat()
    file_until(chat, "summary")
    summary = chat.question
    assert summary.key == "steps/summary"
    rows = {row["title"]: row for row in summary.context["rows"]}
    assert rows["NIK"]["value"] == "3471********0001"  # masked even to its owner
    assert rows["Desa/Kelurahan"]["value"] == "Giwangan, Umbulharjo"
    assert rows["Foto"] == {"title": "Foto", "kind": "photos", "value": 1}
    effects = chat.press("confirm")
    ticket = next(e for e in effects if isinstance(e, OpenTicket))
    assert ticket.flow == "complaint"
    assert ticket.answers == {
        "source": None,
        "category_group": "lansia",
        "category": "lansia_telantar",
        "subject": "self",
        "person_name": "Mbah Sarinah",
        "person_nik": VALID_NIK,
        "person_age": 81,
        "person_sex": "P",
        "district_code": "34.71.04",
        "village_code": "34.71.04.1001",
        "address": "Jl. Imogiri Timur, RT 03/RW 02, dekat masjid",
        "location": {"lat": -7.83, "lon": 110.39},
        "photos": [11],
        "description": "Nenek tinggal sendiri, tidak ada yang merawat, sering tidak makan.",
        "reporter_phone": "+6281234567890",
    }
    assert chat.state.flow is None and chat.state.answers == {}
    assert chat.keys[-1] == "menu/main"


def test_consent_is_recorded_and_not_asked_again_for_the_same_text() -> None:
    chat = Chat()
    start_complaint(chat)
    assert chat.question.key == "steps/consent"
    effects = chat.press("agree")
    assert RecordConsent(BOOK.settings.consent_version) in effects
    chat.type("batal")
    chat.press("complaint")
    assert chat.state.step == "category"


def test_declining_consent_ends_politely_and_keeps_nothing() -> None:
    chat = Chat()
    start_complaint(chat)
    chat.press("disagree")
    assert chat.keys == ["intake/consent_declined", "menu/main"]
    assert chat.state.flow is None


@pytest.mark.parametrize(
    ("typed", "reason", "digits"),
    [
        ("347101450785001", "length", 15),
        ("34710145O7850001", "digits", 15),
        ("9971014507850001", "province", 16),
        ("3471013102850001", "date", 16),
        ("3471014507850000", "serial", 16),
    ],
)
def test_a_wrong_nik_is_refused_with_the_exact_reason(typed: str, reason: str, digits: int) -> None:
    chat = Chat()
    file_until(chat, "person_nik")
    chat.type(typed)
    assert chat.keys == ["errors/nik", "steps/person_nik"]
    assert chat.last[0].context["reason"] == reason
    assert chat.last[0].context["digits"] == digits
    assert chat.state.step == "person_nik"


def test_nik_unknown_is_accepted_only_when_reporting_someone_else() -> None:
    myself = Chat()
    file_until(myself, "person_nik", subject="self")
    assert "unknown" not in [o.value for o in myself.question.options]
    myself.type("tidak tahu")
    assert myself.keys[0] == "errors/nik"

    neighbour = Chat()
    file_until(neighbour, "person_nik", subject="other")
    neighbour.type("Tidak tahu")
    assert neighbour.state.step == "person_age"
    assert neighbour.state.answers["person_nik"] is None


def test_someone_elses_name_may_be_skipped() -> None:
    chat = Chat()
    file_until(chat, "person_name", subject="other")
    chat.press("skip")
    assert chat.state.step == "person_nik"
    assert chat.state.answers["person_name"] is None


def test_over_long_text_is_refused_with_the_limit() -> None:
    chat = Chat()
    file_until(chat, "description")
    chat.type("x" * 2500)
    assert chat.keys == ["errors/too_long", "steps/description"]
    assert chat.last[0].context == {"limit": 2000, "length": 2500}


def test_too_short_and_wrong_numbers_get_kind_replies() -> None:
    chat = Chat()
    file_until(chat, "person_age")
    chat.type("delapan puluh")
    assert chat.keys[0] == "errors/not_a_number"
    chat.type("150")
    assert chat.keys[0] == "errors/number_range"
    assert chat.last[0].context == {"min": 0, "max": 120}
    chat.type("80")
    assert chat.state.step == "person_sex"


def test_typed_labels_and_numbers_choose_options() -> None:
    chat = Chat()
    file_until(chat, "person_sex")
    chat.type("perempuan")
    assert chat.state.answers["person_sex"] == "P"
    chat = Chat()
    file_until(chat, "subject")
    chat.type("2")
    assert chat.state.answers["subject"] == "other"


def test_sticker_where_a_photo_is_asked_gets_a_re_prompt() -> None:
    chat = Chat()
    file_until(chat, "photos")
    chat.event(Inbound(kind="unsupported", media="sticker"))
    assert chat.keys == ["errors/unsupported", "steps/photos"]
    assert chat.last[0].context == {"media": "sticker"}
    assert chat.question.request == "photo"


def test_photo_where_text_is_asked_is_refused() -> None:
    chat = Chat()
    file_until(chat, "address")
    chat.event(Inbound(kind="photo"))
    assert chat.keys == ["errors/photo_not_expected", "steps/address"]


def test_rejected_photo_says_why() -> None:
    chat = Chat()
    file_until(chat, "photos")
    chat.event(Inbound(kind="photo", photo_error="too_large"))
    assert chat.keys == ["errors/photo_rejected", "steps/photos"]
    assert chat.last[0].context == {"reason": "too_large"}


def test_photos_stop_at_the_maximum() -> None:
    chat = Chat()
    file_until(chat, "photos")
    for attachment in range(1, 6):
        chat.event(Inbound(kind="photo", attachment_id=attachment))
    assert chat.state.step == "description"
    assert chat.state.answers["photos"] == [1, 2, 3, 4, 5]


def test_location_can_be_skipped_by_typing_the_button_word() -> None:
    chat = Chat()
    file_until(chat, "location")
    chat.type("Lewati")
    assert chat.state.step == "photos"
    assert chat.state.answers["location"] is None


def test_text_where_a_location_is_asked_re_prompts() -> None:
    chat = Chat()
    file_until(chat, "location")
    chat.type("di dekat pasar")
    assert chat.keys == ["errors/expected_location", "steps/location"]


def test_unknown_command_is_named() -> None:
    chat = Chat()
    file_until(chat, "address")
    chat.type("/hapus")
    assert chat.keys == ["errors/unknown_command", "steps/address"]
    assert chat.state.step == "address"


def test_a_press_on_an_old_message_is_recognised_as_stale() -> None:
    chat = Chat()
    file_until(chat, "address")
    chat.event(Inbound(kind="choice", value="self", step="subject"))
    assert chat.keys == ["errors/stale_button", "steps/address"]
    assert chat.state.answers["subject"] == "self"


def test_a_double_tap_on_send_files_one_ticket() -> None:
    chat = Chat()
    file_until(chat, "summary")
    first = chat.press("confirm")
    second = chat.event(Inbound(kind="choice", value="confirm", step="summary"))
    assert sum(isinstance(e, OpenTicket) for e in first) == 1
    assert not any(isinstance(e, OpenTicket) for e in second)
    assert chat.keys[0] == "errors/stale_button"


def test_back_goes_to_the_previous_question_and_up_a_list_level() -> None:
    chat = Chat()
    file_until(chat, "village")
    chat.press("34.71.04")
    assert chat.question.key == "steps/village_village"
    chat.type("kembali")
    assert chat.question.key == "steps/village_district"
    chat.type("kembali")
    assert chat.state.step == "person_sex"


def test_long_lists_page_instead_of_truncating() -> None:
    chat = Chat()
    file_until(chat, "village")
    first = [o.value for o in chat.question.options]
    assert len(first) <= 10 and first[-1] == "nav:more"
    chat.press("nav:more")
    second = [o.value for o in chat.question.options]
    assert "nav:back" in second
    districts = [d.code for d in BOOK.areas.districts]
    assert [v for v in first + second if not v.startswith("nav:")] == districts
    chat.press("34.71.14")
    assert chat.state.answers["district_code"] == "34.71.14"


def test_cancel_drops_uploaded_photos() -> None:
    chat = Chat()
    file_until(chat, "photos")
    chat.event(Inbound(kind="photo", attachment_id=7))
    effects = chat.type("batal")
    assert DropAttachments((7,)) in effects
    assert chat.keys == ["conversation/cancelled", "menu/main"]
    assert chat.state.flow is None


def test_an_idle_conversation_expires_with_a_note() -> None:
    chat = Chat()
    file_until(chat, "photos")
    chat.event(Inbound(kind="photo", attachment_id=9))
    chat.now = NOW + timedelta(hours=25)
    effects = chat.type("Jl. Parangtritis")
    assert DropAttachments((9,)) in effects
    assert chat.keys == ["conversation/expired", "menu/main"]
    assert chat.state.flow is None


def test_the_conversation_keeps_going_within_the_idle_time() -> None:
    chat = Chat()
    file_until(chat, "address")
    chat.now = NOW + timedelta(hours=23)
    chat.type("Jl. Parangtritis no. 5")
    assert chat.state.step == "location"


def test_language_can_be_changed_at_any_step() -> None:
    chat = Chat()
    file_until(chat, "address")
    effects = chat.type("bahasa inggris")
    assert SetLanguage("en") in effects
    assert chat.state.language == "en"
    assert chat.keys == ["conversation/language_set", "steps/address"]
    chat.type("language")
    assert [o.value for o in chat.question.options] == ["lang:id", "lang:en"]
    chat.press("lang:id")
    assert chat.state.language == "id"


def test_status_mid_flow_lists_tickets_then_asks_again() -> None:
    chat = Chat()
    file_until(chat, "address")
    effects = chat.type("status SP-2026-00001")
    assert len(effects) == 1 and isinstance(effects[0], ShowStatus)
    assert effects[0].number == "SP-2026-00001"
    assert [s.key for s in effects[0].then] == ["steps/address"]


def test_help_explains_then_asks_again() -> None:
    chat = Chat()
    file_until(chat, "address")
    chat.type("bantuan")
    assert chat.keys == ["conversation/help", "steps/address"]


def test_changing_one_answer_from_the_summary_returns_to_the_summary() -> None:
    chat = Chat()
    file_until(chat, "summary")
    chat.press("edit")
    assert chat.question.key == "steps/summary_edit"
    while "edit:address" not in [o.value for o in chat.question.options]:
        chat.press("nav:more")
    chat.press("edit:address")
    assert chat.state.step == "address"
    chat.type("Jl. Kusumanegara 10")
    assert chat.state.step == "summary"
    effects = chat.press("confirm")
    ticket = next(e for e in effects if isinstance(e, OpenTicket))
    assert ticket.answers["address"] == "Jl. Kusumanegara 10"


def test_changing_who_it_is_about_asks_what_becomes_needed() -> None:
    chat = Chat()
    file_until(chat, "summary", subject="other")
    chat.press("edit")
    chat.press("edit:subject")
    chat.press("self")
    assert chat.state.step == "summary"  # every question for "self" was already answered


def test_deep_link_payload_becomes_the_source() -> None:
    chat = Chat()
    chat.type("/start poskesos_giwangan")
    assert chat.state.source == "poskesos_giwangan"
    file_until(chat, "summary")
    ticket = next(e for e in chat.press("confirm") if isinstance(e, OpenTicket))
    assert ticket.answers["source"] == "poskesos_giwangan"


def test_service_request_uses_the_service_catalogue() -> None:
    chat = Chat()
    chat.type("/start")
    chat.press("service")
    chat.press("agree")
    assert chat.question.key == "steps/category_group"
    assert chat.question.context["kind"] == "service"
    groups = [g.key for g in BOOK.categories.service]
    assert [o.value for o in chat.question.options if not o.value.startswith("nav:")] == groups[:8]


# ----------------------------------------------------------------- after an officer's work:
# the buttons under a resolution notice, the survey, and answers to an officer's question.

from dataclasses import replace  # noqa: E402  (this section's imports)

from workflows.engine import RelayReply, ReopenTicket, SubmitSurvey  # noqa: E402


def notice_button(chat: Chat, value: str) -> tuple[Any, ...]:
    """Press a button under a resolution notice: drawn for no step, pressed whenever."""
    return chat.event(Inbound(kind="choice", value=value, step=None))


def survey_of(effects: tuple[Any, ...]) -> SubmitSurvey:
    [survey] = [e for e in effects if isinstance(e, SubmitSurvey)]
    return survey


def test_rate_on_a_resolution_notice_starts_the_survey() -> None:
    chat = Chat()
    chat.type("/start")
    notice_button(chat, "rate:12")
    assert chat.keys == ["survey/speed"]
    assert [o.value for o in chat.question.options] == ["1", "2", "3", "4"]
    assert chat.state.flow == "survey" and chat.state.answers == {"ticket_id": 12}


def test_a_survey_answered_by_buttons_and_typed_numbers_is_submitted_with_the_comment() -> None:
    chat = Chat()
    chat.type("/start")
    notice_button(chat, "rate:12")
    chat.press("4")
    assert chat.keys == ["survey/conduct"]
    chat.type("3")  # the number on the button, typed
    assert chat.keys == ["survey/handling"]
    chat.type("2 Kurang baik")  # or the button's label
    assert chat.keys == ["survey/comment"]
    assert [o.value for o in chat.question.options] == ["skip"]
    effects = chat.type("Petugas datang cepat, tapi kurang menjelaskan.")
    survey = survey_of(effects)
    assert survey == SubmitSurvey(
        12, {"time": 4, "conduct": 3, "complaints": 2}, "Petugas datang cepat, tapi kurang menjelaskan."
    )
    assert chat.keys == ["menu/main"]
    assert chat.state.flow is None and chat.state.answers == {}


@pytest.mark.parametrize("skip", ["button", "typed"])
def test_the_survey_comment_may_be_skipped(skip: str) -> None:
    chat = Chat()
    chat.type("/start")
    notice_button(chat, "rate:12")
    chat.press("1")
    chat.press("1")
    chat.press("4")
    effects = chat.press("skip") if skip == "button" else chat.type("Lewati")
    assert survey_of(effects) == SubmitSurvey(12, {"time": 1, "conduct": 1, "complaints": 4}, None)
    assert chat.keys == ["menu/main"]


def test_a_wrong_survey_answer_asks_the_same_question_again() -> None:
    chat = Chat()
    chat.type("/start")
    notice_button(chat, "rate:12")
    chat.type("5")
    assert chat.keys == ["errors/choose_option", "survey/speed"]
    assert chat.state.step == "time"


def test_cancel_in_the_middle_of_the_survey_submits_nothing() -> None:
    chat = Chat()
    chat.type("/start")
    notice_button(chat, "rate:12")
    chat.press("4")
    effects = chat.type("/cancel")
    assert not any(isinstance(e, SubmitSurvey) for e in effects)
    assert chat.keys == ["conversation/cancelled", "menu/main"]
    assert chat.state.flow is None


def test_not_resolved_asks_to_reopen_from_the_menu() -> None:
    chat = Chat()
    chat.type("/start")
    effects = notice_button(chat, "reopen:12")
    assert effects == (ReopenTicket(12),)
    assert chat.state.flow is None


@pytest.mark.parametrize("flow", ["complaint", "survey"])
def test_not_resolved_in_the_middle_of_a_flow_reopens_and_keeps_the_flow(flow: str) -> None:
    chat = Chat()
    if flow == "complaint":
        file_until(chat, "address")
    else:
        chat.type("/start")
        notice_button(chat, "rate:12")
        chat.press("3")
    before = chat.state
    asked = chat.question.key
    effects = notice_button(chat, "reopen:12")
    assert effects[0] == ReopenTicket(12)
    assert chat.keys == [asked]  # the question in progress is asked again after the reply
    assert (chat.state.flow, chat.state.step, chat.state.answers) == (before.flow, before.step, before.answers)


@pytest.mark.parametrize("forged", ["rate:abc", "rate:", "reopen:-3", "rate:²", "rate:99999999999999999999"])
def test_a_forged_rate_or_reopen_button_is_stale(forged: str) -> None:
    chat = Chat()
    file_until(chat, "address")
    effects = notice_button(chat, forged)
    assert chat.keys == ["errors/stale_button", "steps/address"]
    assert not any(isinstance(e, (SubmitSurvey, ReopenTicket)) for e in effects)
    assert chat.state.flow == "complaint" and chat.state.step == "address"


def test_a_citizen_cannot_start_the_survey_from_the_menu() -> None:
    chat = Chat()
    chat.type("/start")
    chat.event(Inbound(kind="choice", value="survey", step="menu"))
    assert chat.keys == ["menu/main"]
    assert chat.state.flow is None
    chat.type("survey")
    assert chat.keys == ["menu/main"] and chat.state.flow is None


class WaitingChat(Chat):
    """At the menu while an officer waits for this citizen's answer about `ticket_id`: the
    caller notes that on the state before every message at the menu, as storage does."""

    def __init__(self, ticket_id: int = 5) -> None:
        super().__init__()
        self.ticket_id = ticket_id

    def event(self, event: Inbound) -> tuple[Any, ...]:
        if self.state.flow is None:
            self.state = replace(self.state, waiting_ticket=self.ticket_id)
        return super().event(event)


def waiting_chat() -> WaitingChat:
    chat = WaitingChat()
    chat.type("/start")
    return chat


def test_free_text_while_an_officer_waits_is_relayed_as_the_answer() -> None:
    chat = waiting_chat()
    effects = chat.type("  KTP-nya hilang waktu banjir.  ")
    assert effects == (RelayReply(5, "KTP-nya hilang waktu banjir."),)
    assert chat.state.flow is None


def test_an_over_long_answer_to_an_officer_is_refused_and_not_relayed() -> None:
    chat = waiting_chat()
    effects = chat.type("x" * 2001)
    assert chat.keys == ["errors/too_long"]
    assert chat.last[0].context == {"limit": 2000, "length": 2001}
    assert not any(isinstance(e, RelayReply) for e in effects)
    assert chat.type("x" * 2000) == (RelayReply(5, "x" * 2000),)


def test_commands_and_menu_buttons_still_work_while_an_officer_waits() -> None:
    chat = waiting_chat()
    assert chat.keys == ["menu/welcome", "menu/main"]
    [status] = chat.type("status")
    assert isinstance(status, ShowStatus) and [s.key for s in status.then] == ["menu/main"]
    chat.type("bantuan")
    assert chat.keys == ["conversation/help", "menu/main"]
    effects = chat.press("complaint")
    assert not any(isinstance(e, RelayReply) for e in effects)
    assert chat.state.flow == "complaint"


def test_the_number_a_person_writes_from_is_offered_at_the_phone_question() -> None:
    chat = Chat(ConversationState(known_phone="+6281234567890"))
    file_until(chat, "reporter_phone")
    assert [o.value for o in chat.question.options][:1] == ["own_phone"]
    assert chat.question.context["known_phone"] == "+6281234567890"
    chat.press("own_phone")
    assert chat.state.answers["reporter_phone"] == "+6281234567890" and chat.state.step == "summary"


def test_without_a_known_number_the_phone_question_offers_no_such_button() -> None:
    chat = Chat()
    file_until(chat, "reporter_phone")
    assert "own_phone" not in [o.value for o in chat.question.options]
    chat.event(Inbound(kind="choice", value="own_phone", step="reporter_phone"))  # a forged press
    assert chat.state.step == "reporter_phone" and "reporter_phone" not in chat.state.answers


# --- the office's flows.yaml: menu, words and step types are data ------------------------------


def office_engine(tmp_path: Path, change: Any) -> Engine:
    """An engine on the packaged flows.yaml as `change(document)` leaves it, read as an office's."""
    document = yaml.safe_load((DATA_DIR / "flows.yaml").read_text(encoding="utf-8"))
    change(document)
    (tmp_path / "flows.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return Engine(load_flowbook(tmp_path), ttl=timedelta(hours=24))


def add_aid_flow(document: dict[str, Any]) -> None:
    document["flows"]["aid"] = {
        "kind": "service",
        "menu": {
            "label": {"id": "Bansos", "en": "Social aid"},
            "about": {"id": "tanya bantuan sosial", "en": "ask about social aid"},
            "words": {"id": ["bantuan sosial"]},
        },
        "steps": [
            {"id": "consent", "type": "consent"},
            {"id": "description", "type": "text", "title": {"id": "Keperluan", "en": "What you need"}, "min_length": 5},
            {"id": "summary", "type": "summary"},
        ],
    }


def test_a_flow_added_to_flows_yaml_is_offered_in_the_menu_and_files_a_ticket(tmp_path: Path) -> None:
    chat = Chat(engine=office_engine(tmp_path, add_aid_flow))
    chat.type("/start")
    assert [o.value for o in chat.question.options] == ["complaint", "service", "aid", "status", "mydata"]
    assert chat.question.options[2].label == {"id": "Bansos", "en": "Social aid"}
    assert [entry["label"]["id"] for entry in chat.question.context["flows"]] == ["Pengaduan", "Permohonan", "Bansos"]
    chat.press("aid")
    assert chat.state.flow == "aid" and chat.keys == ["steps/consent"]
    chat.press("agree")
    chat.type("Bantuan sembako untuk ibu saya")
    ticket = next(e for e in chat.press("confirm") if isinstance(e, OpenTicket))
    assert ticket.flow == "aid" and ticket.answers["description"] == "Bantuan sembako untuk ibu saya"


@pytest.mark.parametrize("typed", ["3", "Bansos", "bantuan sosial", "social aid"])
def test_an_added_flow_starts_by_its_number_label_or_words(tmp_path: Path, typed: str) -> None:
    chat = Chat(engine=office_engine(tmp_path, add_aid_flow))
    chat.type("/start")
    chat.type(typed)
    assert chat.state.flow == "aid"


def test_status_moves_down_the_menu_when_a_flow_is_added(tmp_path: Path) -> None:
    chat = Chat(engine=office_engine(tmp_path, add_aid_flow))
    chat.type("/start")
    status = chat.type("4")
    assert len(status) == 1 and isinstance(status[0], ShowStatus)
    assert chat.type("5") == (OpenDataRights(),)
    chat.type("6")
    assert chat.keys == ["menu/main"] and chat.state.flow is None


def test_an_office_adds_a_local_word_and_keeps_the_others(tmp_path: Path) -> None:
    def mboten(document: dict[str, Any]) -> None:
        document["words"] = {"id": {"skip": ["lewati", "mboten"]}}  # a meaning named replaces ours

    engine = office_engine(tmp_path, mboten)
    chat = Chat(engine=engine)
    file_until(chat, "reporter_phone")  # "setuju" and the rest still work
    chat.type("mboten")
    assert chat.state.step == "summary"
    assert engine.book.words["id"]["agree"] == BOOK.words["id"]["agree"]
    tidak = Chat(engine=engine)
    file_until(tidak, "reporter_phone")
    tidak.type("tidak")  # no longer a skip word in this office
    assert tidak.state.step == "reporter_phone" and tidak.keys[0] == "errors/phone"


def test_an_office_dont_know_word_answers_someone_elses_nik(tmp_path: Path) -> None:
    engine = office_engine(tmp_path, lambda document: document.update(words={"id": {"dont_know": ["ora ngerti"]}}))
    chat = Chat(engine=engine)
    file_until(chat, "person_nik", subject="other")
    chat.type("Ora ngerti.")
    assert chat.state.step == "person_age" and chat.state.answers["person_nik"] is None


def test_an_office_command_word_works_like_ours(tmp_path: Path) -> None:
    engine = office_engine(tmp_path, lambda document: document.update(words={"id": {"back": ["kembali", "mbalik"]}}))
    chat = Chat(engine=engine)
    file_until(chat, "subject")
    chat.type("mbalik")
    assert chat.state.step == "category"
    assert engine.command("/Mbalik@SatupintuBot").name == "back"  # type: ignore[union-attr]


def test_help_names_the_offices_own_command_words(tmp_path: Path) -> None:
    engine = office_engine(tmp_path, lambda document: document.update(words={"id": {"back": ["mbalik", "kembali"]}}))
    chat = Chat(engine=engine)
    file_until(chat, "address")
    [help_say, _] = chat.type("bantuan")
    text = Texts().render(help_say.key, "id", help_say.context)
    assert "• mbalik — ke pertanyaan sebelumnya" in text and "• batal — batalkan laporan" in text
    [ours, _] = Chat().type("help")
    assert "• kembali — ke pertanyaan sebelumnya" in Texts().render(ours.key, "id", ours.context)


def test_without_a_words_section_our_words_apply(tmp_path: Path) -> None:
    engine = office_engine(tmp_path, lambda document: document.pop("words"))
    assert engine.book.words == BOOK.words
    chat = Chat(engine=engine)
    file_until(chat, "reporter_phone")
    chat.type("Lewati")
    assert chat.state.step == "summary"


def test_an_office_flow_from_before_menus_were_data_keeps_its_menu_entry(tmp_path: Path) -> None:
    engine = office_engine(tmp_path, lambda document: document["flows"]["complaint"].pop("menu"))
    assert engine.book.flows["complaint"].menu == BOOK.flows["complaint"].menu


def test_a_new_intake_flow_without_a_menu_entry_is_refused_at_load(tmp_path: Path) -> None:
    def no_menu(document: dict[str, Any]) -> None:
        add_aid_flow(document)
        del document["flows"]["aid"]["menu"]

    with pytest.raises(ValueError, match="needs a `menu` entry"):
        office_engine(tmp_path, no_menu)


def test_an_unknown_step_type_is_refused_at_load(tmp_path: Path) -> None:
    def signature(document: dict[str, Any]) -> None:
        document["flows"]["complaint"]["steps"].insert(
            1, {"id": "sign", "type": "signature", "title": {"id": "Tanda tangan", "en": "Signature"}}
        )

    with pytest.raises(ValueError, match=r"step sign: unknown type 'signature' \(known: consent, category, "):
        office_engine(tmp_path, signature)


def test_a_command_word_of_two_words_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"words\.id\.back: 'ke belakang' must be one word"):
        office_engine(tmp_path, lambda document: document.update(words={"id": {"back": ["ke belakang"]}}))


def test_a_file_is_wanted_only_where_something_asks_for_it() -> None:
    idle = ConversationState()
    assert not ENGINE.wants_file(idle, "photo") and not ENGINE.wants_file(idle, "document")
    waiting = replace(idle, waiting_ticket=5)
    assert ENGINE.wants_file(waiting, "photo") and ENGINE.wants_file(waiting, "document")
    chat = Chat()
    file_until(chat, "photos")
    assert ENGINE.wants_file(chat.state, "photo") and not ENGINE.wants_file(chat.state, "document")


def test_a_photo_at_the_menu_answers_the_officers_question() -> None:
    chat = Chat(ConversationState(waiting_ticket=5))
    assert chat.event(Inbound(kind="photo", attachment_id=9)) == (RelayReply(5, "", 9),)
    chat.event(Inbound(kind="document", photo_error="not_pdf"))
    assert chat.keys == ["errors/photo_rejected"] and chat.last[0].context == {"reason": "not_pdf"}


def test_a_file_chosen_for_a_filed_ticket_goes_there_once() -> None:
    chat = Chat()
    chat.type("/start")
    chat.event(Inbound(kind="choice", value="attach:12", step="menu"))
    assert chat.keys == ["citizen/send_file"] and chat.state.attaching == 12
    effects = chat.event(Inbound(kind="document", attachment_id=3))
    assert effects[0] == AddFile(12, 3) and chat.keys == ["menu/main"] and chat.state.attaching is None
    chat.event(Inbound(kind="choice", value="attach:12", step="menu"))
    chat.type("batal")
    assert chat.state.attaching is None and chat.keys == ["menu/main"]


@pytest.mark.parametrize("typed", ["/datasaya", "datasaya", "/mydata", "mydata", "4"])
def test_my_data_opens_from_its_command_or_the_menu(typed: str) -> None:
    chat = Chat()
    chat.type("/start")
    assert chat.type(typed) == (OpenDataRights(),)
    assert chat.state.flow is None


def test_my_data_in_the_middle_of_a_report_sets_it_aside_with_its_photos() -> None:
    chat = Chat()
    file_until(chat, "photos")
    chat.event(Inbound(kind="photo", attachment_id=41))
    effects = chat.type("/datasaya")
    assert effects == (DropAttachments((41,)), OpenDataRights())
    assert chat.state.flow is None and chat.state.answers == {}
