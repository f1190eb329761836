"""Sample contexts for every chat message, so each can be rendered without a real ticket.

The template test renders every message with these in every language (a missing variable is an
error there), and the console's template preview shows the same renders to an admin. A new
message needs its sample here; steps share STEP_CONTEXT.
"""

from __future__ import annotations

from typing import Any

ANSWERS = {"subject": "other"}
TICKET = {
    "number": "SP-2026-00042",
    "category": "Lansia telantar",
    "status": "in_progress",
    "updated": "Senin, 23 November 2026",
}
SAMPLES: dict[str, dict[str, Any]] = {
    "menu/welcome": {},
    "menu/main": {
        "flows": [
            {
                "label": {"id": "Pengaduan", "en": "Complaint"},
                "about": {"id": "laporkan orang yang butuh bantuan", "en": "report someone who needs help"},
            },
            {
                "label": {"id": "Permohonan", "en": "Service"},
                "about": {
                    "id": "minta layanan (SKTM, DTSEN, bantuan, BPJS PBI…)",
                    "en": "ask for a service (SKTM, DTSEN, aid, BPJS PBI…)",
                },
            },
        ]
    },
    "conversation/expired": {},
    "conversation/cancelled": {},
    "conversation/help": {
        "in_flow": True,
        "words": {"back": "kembali", "cancel": "batal", "language": "bahasa", "start": "mulai"},
    },
    "whatsapp/or_choose": {},
    "sms/choices": {"titles": ["Pengaduan", "Permohonan", "Cek status"]},
    "conversation/language_set": {},
    "conversation/choose_language": {},
    "errors/unknown_command": {"text": "/hapus"},
    "errors/stale_button": {},
    "errors/unsupported": {"media": "sticker"},
    "errors/choose_option": {},
    "errors/expected_text": {},
    "errors/too_long": {"limit": 2000, "length": 2500},
    "errors/too_short": {"minimum": 10},
    "errors/nik": {"reason": "length", "digits": 15, "unknown_allowed": True},
    "errors/phone": {},
    "errors/not_a_number": {},
    "errors/number_range": {"min": 0, "max": 120},
    "errors/expected_location": {},
    "errors/expected_photo": {},
    "errors/photo_rejected": {"reason": "too_large"},
    "errors/photo_not_expected": {},
    "errors/location_not_expected": {},
    "steps/consent": {"version": "2026-11"},
    "steps/category_group": {"kind": "complaint", "group": None},
    "steps/category_type": {"kind": "complaint", "group": "Lansia"},
    "steps/summary": {
        "flow": "complaint",
        "rows": [
            {"title": "Nama", "kind": "text", "value": "Mbah Sarinah"},
            {"title": "NIK", "kind": "unknown", "value": None},
            {"title": "Foto", "kind": "photos", "value": 2},
            {"title": "Lokasi", "kind": "location", "value": {"lat": 1, "lon": 2}},
            {"title": "Umur", "kind": "skipped", "value": None},
        ],
    },
    "steps/summary_edit": {},
    "steps/photo_received": {"count": 1, "max_photos": 5},
    "intake/consent_declined": {},
    "intake/ticket_created": {
        "number": "SP-2026-00042",
        "kind": "complaint",
        "working_days": 1,
        "due_date": "Selasa, 24 November 2026",
    },
    "status/list": {"tickets": [TICKET], "number": None, "can_attach": True},
    "status/attach_option": {"number": "SP-2026-00042"},
    "desk/card": {
        "heading": "new",
        "number": "SP-2026-00042",
        "kind": "complaint",
        "category": "Lansia telantar",
        "status": "assigned",
        "summary": "Mbah Sarinah tinggal sendiri.",
        "subject": "other",
        "person_name": "Mbah Sarinah",
        "person_nik": "3471************",
        "person_age": 80,
        "village": "Giwangan",
        "district": "Umbulharjo",
        "address": "Jl. Mawar 3",
        "map": "https://www.openstreetmap.org/?mlat=-7.8&mlon=110.4#map=17/-7.8/110.4",
        "photos": 2,
        "reporter": {"name": "Siti", "phone": "+6281234567890", "channel": "telegram"},
        "due": "Selasa, 24 November 2026",
        "stage": "first_response",
        "sla": "breached",
        "assignee": "Budi",
        "unassigned": False,
        "urgent": True,
        "question": "Di RT berapa?",
        "referrals": [{"agency": "Disdukcapil", "status": "sent", "due": "Senin, 30 November 2026"}],
        "duplicates": ["SP-2026-00040"],
        "linked_to": None,
        "joined": ["SP-2026-00043"],
    },
    "desk/done": {"action": "reassign", "number": "SP-2026-00042", "to": "Budi"},
    "desk/ask_text": {
        "what": "agency_request",
        "number": "SP-2026-00042",
        "agency": {"id": "Disdukcapil", "en": "Civil registry"},
    },
    "desk/choose": {"what": "agency", "number": "SP-2026-00042"},
    "desk/nothing_to_choose": {"what": "officer", "number": "SP-2026-00042"},
    "desk/help": {"role": "supervisor"},
    "desk/tickets": {"rows": [{"number": "SP-2026-00042", "status": "assigned", "category": "lansia_telantar"}]},
    "desk/overview": {
        "by_status": {"new": 2, "assigned": 1},
        "total": 3,
        "unassigned": [{"number": "SP-2026-00042"}],
        "overdue": [],
    },
    "desk/not_found": {"number": "SP-2026-00042"},
    "desk/stale_card": {"number": "SP-2026-00042"},
    "desk/stale_button": {},
    "desk/denied": {},
    "desk/refused": {"reason": "no_longer_offered"},
    "desk/illegal": {"status": "resolved", "action": "accept"},
    "desk/disabled": {},
    "desk/cancelled": {},
    "desk/availability": {"status": "away"},
    "desk/citizen_reply": {
        "number": "SP-2026-00042",
        "question": "Di RT berapa?",
        "text": "RT 03",
        "kind": None,
        "link": "https://dinsos.example.go.id/console/cases/SP-2026-00042",
    },
    "desk/citizen_file": {
        "number": "SP-2026-00042",
        "kind": "document",
        "link": "https://dinsos.example.go.id/console/cases/SP-2026-00042",
    },
    "desk/taken_away": {"number": "SP-2026-00042", "to": "Budi"},
    "desk/photo": {"number": "SP-2026-00042", "index": 1, "count": 2},
    "desk/welcome": {"name": "Budi", "role": "officer"},
    "desk/invite_refused": {"reason": "used"},
    "desk/signin_link": {"url": "https://dinsos.example.go.id/console/signin/link/abc", "minutes": 15},
    "citizen/accepted": {"number": "SP-2026-00042"},
    "citizen/joined": {"number": "SP-2026-00042"},
    "citizen/unjoined": {"number": "SP-2026-00042"},
    "citizen/linked": {"number": "SP-2026-00042"},
    "citizen/link_refused": {"reason": "used"},
    "citizen/question": {"number": "SP-2026-00042", "question": "Di RT berapa?"},
    "citizen/reply_received": {"number": "SP-2026-00042"},
    "citizen/send_file": {},
    "citizen/file_added": {"number": "SP-2026-00042", "kind": "photo"},
    "citizen/referred": {"number": "SP-2026-00042", "agency": {"id": "Disdukcapil", "en": "Civil registry"}},
    "citizen/referral_closed": {
        "number": "SP-2026-00042",
        "agency": {"id": "Disdukcapil", "en": "Civil registry"},
        "status": "done",
        "outcome": "KTP sudah dicetak",
    },
    "citizen/resolved": {
        "number": "SP-2026-00042",
        "resolution": "Bantuan sudah diantar.",
        "reopen_days": 14,
        "form": "https://satupintu.example/survey/contoh",
    },
    "citizen/rejected": {
        "number": "SP-2026-00042",
        "reason": {"id": "Laporan ganda", "en": "Duplicate report"},
        "text": "Sama dengan SP-2026-00041.",
    },
    "citizen/reopened": {"number": "SP-2026-00042"},
    "citizen/survey_thanks": {"number": "SP-2026-00042", "form": "https://satupintu.example/survey/contoh"},
    "citizen/reopened_by_office": {"number": "SP-2026-00042", "reason": "Bantuan belum diterima keluarga."},
    "citizen/refused": {"reason": "too_late", "reopen_days": 14},
    "reminders/due_today": {"number": "SP-2026-00042", "stage": "first_response"},
    "reminders/breached": {"number": "SP-2026-00042", "stage": "resolution", "late": 2},
    "reminders/escalated": {"number": "SP-2026-00042", "stage": "first_response", "late": 0, "assignee": None},
    "reminders/referral_overdue": {
        "number": "SP-2026-00042",
        "agency": {"id": "Disdukcapil", "en": "Civil registry"},
        "late": 3,
        "request": "Perekaman KTP-el di rumah",
    },
    "urgent/alert": {"number": "SP-2026-00042", "minutes": 10},
    "urgent/escalated": {"number": "SP-2026-00042", "minutes": 30, "assignee": "Budi"},
    "urgent/hotlines": {
        "number": "SP-2026-00042",
        "due_time": "Sabtu, 5 Desember 2026 00.30",
        "hotlines": [
            {"name": "Darurat", "number": "112", "when": {"id": "24 jam", "en": "24 hours"}},
            {"name": "UPTD PPA", "number": "0274 123456", "when": None},
        ],
    },
    "reminders/closed_unanswered": {"number": "SP-2026-00042", "question": "Di RT berapa?"},
    "citizen/still_handling": {"number": "SP-2026-00042", "status": "referred"},
    "citizen/survey_reminder": {"number": "SP-2026-00042"},
    "citizen/closed_unanswered": {"number": "SP-2026-00042", "question": "Di RT berapa?"},
    "survey/speed": {},
    "survey/conduct": {},
    "survey/handling": {},
    "survey/comment": {},
    "digest/daily": {
        "day": {"id": "Selasa, 24 November 2026", "en": "Tuesday, November 24, 2026"},
        "since": {"id": "Senin, 23 November 2026", "en": "Monday, November 23, 2026"},
        "area": {"districts": ["Umbulharjo"], "regency": "Kota Yogyakarta"},
        "new": {"complaint": 3, "service": 1, "total": 4},
        "urgent": {
            "total": 1,
            "more": 0,
            "rows": [
                {
                    "number": "SP-2026-00043",
                    "category": {"id": "Anak korban kekerasan", "en": "Child abuse victim"},
                    "village": "Giwangan",
                    "officer": "Budi",
                    "status": "assigned",
                }
            ],
        },
        "open": {
            "total": 5,
            "unassigned": 1,
            "by_status": [{"status": "new", "count": 1}, {"status": "in_progress", "count": 4}],
            "by_category": [{"label": {"id": "Lansia telantar", "en": "Neglected elderly"}, "count": 5}],
            "other_categories": 0,
        },
        "overdue": {
            "total": 21,
            "more": 20,
            "rows": [
                {
                    "number": "SP-2026-00042",
                    "category": {"id": "Lansia telantar", "en": "Neglected elderly"},
                    "village": "Giwangan",
                    "officer": None,
                    "late": 2,
                }
            ],
        },
        "referrals": {"pending": 2, "overdue": 1},
        "compliance": {"met": 9, "due": 10, "percent": 90},
        "satisfaction": {"average": 3.25, "responses": 4},
        "window_days": 30,
    },
    "digest/weekly": {
        "first": {"id": "Senin, 16 November 2026", "en": "Monday, November 16, 2026"},
        "last": {"id": "Minggu, 22 November 2026", "en": "Sunday, November 22, 2026"},
        "area": {"districts": [], "regency": "Kota Yogyakarta"},
        "new": {"complaint": 0, "service": 0, "total": 0},
        "resolved": 3,
        "compliance": {"met": 0, "due": 0, "percent": None},
        "satisfaction": {"average": 3.5, "responses": 2},
        "by_category": [
            {"label": {"id": "Lansia telantar", "en": "Neglected elderly"}, "average": 3.5, "responses": 2}
        ],
    },
}
STEP_CONTEXT = {
    "answers": ANSWERS,
    "flow": "complaint",
    "limit": 300,
    "min": 0,
    "max": 120,
    "unknown_allowed": True,
    "district": "Umbulharjo",
    "regency": "Kota Yogyakarta",
    "count": 0,
    "max_photos": 5,
}


def sample(key: str) -> dict[str, Any] | None:
    """The sample context for a message key; None when it has none yet."""
    if key in SAMPLES:
        return SAMPLES[key]
    return STEP_CONTEXT if key.startswith("steps/") else None
