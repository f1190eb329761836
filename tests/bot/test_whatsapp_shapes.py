"""WhatsApp's shapes without the network: our messages drawn within its limits, templates filled
for outside the 24-hour window, and webhook deliveries read (signature included)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bot.channels.whatsapp_inbound import read_delivery, signature_valid
from bot.channels.whatsapp_shape import Labels, requests_for
from bot.channels.whatsapp_templates import TemplateBook, load_templates, one_line, template_for
from workflows.messages import OutMessage, RenderedOption

LABELS = Labels(choose="Pilih", or_choose="Atau pilih salah satu:")


def options(*titles: str) -> tuple[RenderedOption, ...]:
    return tuple(RenderedOption(f"v{n}", title) for n, title in enumerate(titles))


def test_up_to_three_short_choices_are_reply_buttons() -> None:
    [request] = requests_for(OutMessage("Setuju?", options("Setuju", "Tidak setuju"), step="consent"), LABELS)
    assert request["interactive"]["type"] == "button"
    assert [b["reply"] for b in request["interactive"]["action"]["buttons"]] == [
        {"id": "consent|v0", "title": "Setuju"},
        {"id": "consent|v1", "title": "Tidak setuju"},
    ]


def test_long_titles_or_more_choices_become_a_list_and_long_titles_are_given_in_full() -> None:
    title = "Kekerasan terhadap perempuan dan anak"
    [request] = requests_for(OutMessage("Pilih kategori", options("Lansia", title), step="category"), LABELS)
    interactive = request["interactive"]
    assert interactive["type"] == "list" and interactive["action"]["button"] == "Pilih"
    row = interactive["action"]["sections"][0]["rows"][1]
    assert len(row["title"]) <= 24 and row["title"].endswith("…") and row["description"] == title


def test_more_than_ten_choices_page_over_several_lists_none_lost() -> None:
    message = OutMessage("Pilih desa\nketik nama desa", options(*(f"Desa {n}" for n in range(23))), step="village")
    requests = requests_for(message, LABELS)
    rows = [r["id"] for q in requests for s in q["interactive"]["action"]["sections"] for r in s["rows"]]
    assert len(requests) == 3 and rows == [f"village|v{n}" for n in range(23)]
    assert requests[0]["interactive"]["body"]["text"] == message.text
    assert requests[2]["interactive"]["body"]["text"] == "Pilih desa (3/3)"


def test_a_long_text_is_split_at_line_ends_and_buttons_ride_on_the_last_part() -> None:
    text = "\n".join(f"Baris {n:03d} " + "x" * 60 for n in range(40))  # about 2 800 characters
    requests = requests_for(OutMessage(text, options("Ya", "Tidak")), LABELS)
    assert [r["type"] for r in requests[:-1]] == ["text"] * (len(requests) - 1)
    bodies = [r["text"]["body"] for r in requests[:-1]] + [requests[-1]["interactive"]["body"]["text"]]
    assert all(len(b) <= 1024 for b in bodies) and "\n".join(bodies) == text


def test_a_location_question_is_a_location_request_then_its_other_choices() -> None:
    message = OutMessage("Bagikan lokasi", options("Lewati"), step="location", request="location")
    first, second = requests_for(message, LABELS)
    assert first["interactive"] == {
        "type": "location_request_message",
        "body": {"text": "Bagikan lokasi"},
        "action": {"name": "send_location"},
    }
    assert second["interactive"]["body"]["text"] == "Atau pilih salah satu:"
    assert second["interactive"]["action"]["buttons"][0]["reply"]["id"] == "location|v0"


def test_a_plain_text_over_4096_characters_is_sent_in_parts() -> None:
    text = ("kata " * 2000).strip()
    requests = requests_for(OutMessage(text), LABELS)
    assert len(requests) == 3 and all(len(r["text"]["body"]) <= 4096 for r in requests)


# ---------------------------------------------------------------------- templates
@pytest.fixture
def book() -> TemplateBook:
    return load_templates(None)


def test_the_resolved_message_goes_out_as_its_template_with_its_buttons_as_quick_replies(book: TemplateBook) -> None:
    message = OutMessage(
        "Laporan SP-2026-00001 sudah selesai ditangani.\nHasil: KTP sudah jadi.",
        options("Beri nilai", "Belum selesai"),
        key="citizen/resolved",
        params={"number": "SP-2026-00001"},
        language="en",
    )
    request = template_for(book, message)
    template = request.template
    assert template["name"] == "satupintu_selesai" and template["language"] == {"code": "en"}
    body, *buttons = template["components"]
    assert [p["text"] for p in body["parameters"]] == [
        "SP-2026-00001",
        "Laporan SP-2026-00001 sudah selesai ditangani. · Hasil: KTP sudah jadi.",
    ]
    assert [b["parameters"][0]["payload"] for b in buttons] == ["|v0", "|v1"]
    assert not request.held  # everything fitted: nothing waits for the person to write


def test_what_a_template_cannot_carry_is_held_for_later(book: TemplateBook) -> None:
    long_text = "Petugas menulis: " + "sangat panjang " * 100
    request = template_for(book, OutMessage(long_text, key="citizen/accepted"))
    [parameter] = request.template["components"][0]["parameters"]
    assert request.template["name"] == "satupintu_kabar"  # no template of its own: the default
    assert len(parameter["text"]) <= book.max_text_chars and parameter["text"].endswith("…")
    assert request.held
    assert template_for(book, OutMessage("Pilih", options("A", "B"))).held  # buttons the default cannot carry


def test_template_parameters_hold_no_line_breaks_tabs_or_runs_of_spaces() -> None:
    assert one_line("Baris satu\n\n\tBaris     dua  \n") == "Baris satu · Baris dua"


# ---------------------------------------------------------------------- inbound
SECRET = "app-secret"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_signature_is_checked_against_the_raw_body() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    assert signature_valid(body, signed(body), SECRET)
    assert not signature_valid(body + b" ", signed(body), SECRET)
    assert not signature_valid(body, signed(body, "another"), SECRET)
    assert not signature_valid(body, None, SECRET) and not signature_valid(body, signed(body)[7:], SECRET)


def delivery(messages: list[dict], statuses: list[dict] | None = None) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Siti"}, "wa_id": "6281234567890"}],
        "messages": messages,
    }
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "9", "changes": [{"value": value, "field": "messages"}]}],
    }


def message(kind: str, body: dict, **extra: object) -> dict:
    return {
        "from": "6281234567890",
        "id": f"wamid.{kind}",
        "timestamp": "1763900000",
        "type": kind,
        kind: body,
        **extra,
    }


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (message("text", {"body": "halo"}), ("text", "halo", None, None)),
        (
            message("interactive", {"type": "button_reply", "button_reply": {"id": "consent|yes", "title": "Setuju"}}),
            ("choice", None, "consent", "yes"),
        ),
        (
            message("interactive", {"type": "list_reply", "list_reply": {"id": "category|lansia", "title": "Lansia"}}),
            ("choice", None, "category", "lansia"),
        ),
        (message("button", {"payload": "|rate:7", "text": "Beri nilai"}), ("choice", None, None, "rate:7")),
        (message("location", {"latitude": -7.83, "longitude": 110.39}), ("location", None, None, None)),
        (
            message("sticker", {"id": "m1", "mime_type": "image/webp", "animated": False}),
            ("unsupported", None, None, None),
        ),
        (message("audio", {"id": "m2", "mime_type": "audio/ogg", "voice": True}), ("unsupported", None, None, None)),
        (message("reaction", {"message_id": "wamid.x", "emoji": "👍"}), ("unsupported", None, None, None)),
        (
            message("document", {"id": "m3", "mime_type": "application/pdf", "filename": "kk.pdf"}),
            ("document", None, None, None),
        ),
        (
            message("document", {"id": "m4", "mime_type": "image/jpeg", "filename": "foto.jpg"}),
            ("photo", None, None, None),
        ),
        (
            message("unsupported", {}, errors=[{"code": 131051, "title": "Message type unknown"}]),
            ("unsupported", None, None, None),
        ),
    ],
)
def test_each_kind_of_message_becomes_our_event(sent: dict, expected: tuple) -> None:
    [item], reports = read_delivery(json.loads(json.dumps(delivery([sent]))))
    event = item.envelope.event
    assert (event.kind, event.text, event.step, event.value) == expected and reports == []
    assert item.envelope.chat_id == "6281234567890" and item.envelope.display_name == "Siti"
    assert item.envelope.message_id == sent["id"]


def test_an_image_and_a_contact_card() -> None:
    image = message("image", {"id": "media-1", "mime_type": "image/jpeg", "sha256": "abc"})
    card = {
        "from": "6281234567890",
        "id": "wamid.c",
        "timestamp": "1",
        "type": "contacts",
        "contacts": [
            {"name": {"formatted_name": "Siti"}, "phones": [{"phone": "+62 812-3456-7890", "wa_id": "6281234567890"}]}
        ],
    }
    photo, contact = read_delivery(delivery([image, card]))[0]
    assert photo.envelope.event.kind == "photo" and (photo.media_id, photo.media_type) == ("media-1", "image/jpeg")
    assert contact.envelope.event.kind == "contact" and contact.envelope.event.phone == "+62 812-3456-7890"


def test_status_reports_are_read_with_their_error() -> None:
    failed = {
        "id": "wamid.out",
        "status": "failed",
        "timestamp": "1763900000",
        "recipient_id": "6281234567890",
        "errors": [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
            }
        ],
    }
    incoming, [report] = read_delivery(delivery([], [failed]))
    assert incoming == [] and (report.external_id, report.status, report.error_code) == ("wamid.out", "failed", 131047)
    assert report.error.startswith("Message failed to send")
