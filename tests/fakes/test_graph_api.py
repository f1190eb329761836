"""The fake Cloud API, exercised over HTTP with aiohttp's client and a tiny webhook receiver: if
these pass, an app talking to the fake sees the wire format and refusals of graph.facebook.com."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.fakes.graph_api import MEDIA_URL_TTL, SIGNATURE_HEADER, WINDOW_SECONDS, FakeGraphAPI

TOKEN = "TEST-ACCESS-TOKEN"
SITI = "6281234567890"
BUDI = "6281298765432"
JSON = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Receiver:
    """The app's /whatsapp/webhook stand-in: keeps every POST's headers and exact body."""

    url: str
    posts: list[tuple[CIMultiDictProxy[str], bytes]] = field(default_factory=list)

    def payloads(self) -> list[JSON]:
        return [json.loads(body) for _, body in self.posts]

    async def wait(self, count: int, timeout: float = 3.0) -> list[JSON]:
        async with asyncio.timeout(timeout):
            while len(self.posts) < count:
                await asyncio.sleep(0.01)
        return self.payloads()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async def handle(request: web.Request) -> web.Response:
        found.posts.append((request.headers, await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/whatsapp/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found = Receiver(f"http://127.0.0.1:{runner.addresses[0][1]}/whatsapp/webhook")
    yield found
    await runner.cleanup()


@pytest_asyncio.fixture
async def fake(receiver: Receiver, clock: Clock) -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI(clock=clock) as api:
        api.webhook_url = receiver.url
        yield api


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession,
    fake: FakeGraphAPI,
    payload: JSON,
    token: str | None = TOKEN,
    phone_number_id: str | None = None,
) -> tuple[int, JSON]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{fake.api_base_url}/{phone_number_id or fake.phone_number_id}/messages"
    async with http.post(url, json=payload, headers=headers) as response:
        return response.status, await response.json()


def text(to: str, body: str) -> JSON:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


def buttons(to: str, *pairs: tuple[str, str], body: str = "Pilih:") -> JSON:
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "footer": {"text": "Satupintu"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in pairs]},
        },
    }


def a_list(to: str, *sections: list[tuple[str, str, str | None]], titles: bool = True) -> JSON:
    built = []
    for n, rows in enumerate(sections):
        section: JSON = {"rows": [{"id": i, "title": t, **({"description": d} if d else {})} for i, t, d in rows]}
        if titles:
            section["title"] = f"Bagian {n + 1}"
        built.append(section)
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "header": {"type": "text", "text": "Layanan"},
            "body": {"text": "Pilih layanan"},
            "action": {"button": "Lihat", "sections": built},
        },
    }


def template(to: str, name: str, *params: str, quick_replies: list[tuple[int, str]] = ()) -> JSON:
    components: list[JSON] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
    components += [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": payload}],
        }
        for i, payload in quick_replies
    ]
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"code": "id"}, "components": components},
    }


def error_of(body: JSON) -> JSON:
    error = body["error"]
    assert error["fbtrace_id"]
    return error


def value_of(envelope: JSON) -> JSON:
    assert envelope["object"] == "whatsapp_business_account"
    [entry] = envelope["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages" and entry["id"]
    return change["value"]


# ---------------------------------------------------------------------- sending
async def test_a_send_without_the_right_token_or_number_is_refused(
    fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    for token in (None, "WRONG"):
        status, body = await send(http, fake, text(SITI, "halo"), token=token)
        assert status == 401
        assert (body["error"]["code"], body["error"]["type"]) == (190, "OAuthException")
    status, body = await send(http, fake, text(SITI, "halo"), phone_number_id="999")
    assert status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (100, 33)
    assert [(c.status, c.error_code) for c in fake.calls] == [(401, 190), (401, 190), (400, 100)]
    assert fake.all_sent() == []


async def test_a_text_in_the_window_is_accepted_in_the_real_shape(
    fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    await fake.send_text(SITI, "halo")
    status, body = await send(http, fake, text("+" + SITI, "Halo Siti"))
    assert status == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+" + SITI, "wa_id": SITI}]
    [message] = body["messages"]
    assert message["id"].startswith("wamid.")
    [sent] = await fake.wait_for_sent(SITI, 1)
    assert (sent.id, sent.to, sent.type, sent.text) == (message["id"], SITI, "text", "Halo Siti")
    assert fake.calls[-1].payload == text("+" + SITI, "Halo Siti")


async def test_text_must_be_1_to_4096_characters(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await fake.send_text(SITI, "halo")
    assert (await send(http, fake, text(SITI, "x" * 4096)))[0] == 200
    status, body = await send(http, fake, text(SITI, "x" * 4097))
    error = error_of(body)
    assert (status, error["code"], error["message"]) == (400, 131009, "(#131009) Parameter value is not valid")
    assert error["error_data"] == {
        "messaging_product": "whatsapp",
        "details": "Text body length invalid. Min length: 1, Max length: 4096",
    }
    status, body = await send(http, fake, text(SITI, ""))
    assert (status, body["error"]["code"]) == (400, 100)
    assert "text['body']" in body["error"]["message"]
    status, body = await send(http, fake, {"to": SITI, "text": {"body": "hi"}})
    assert (status, body["error"]["message"]) == (400, "(#100) The parameter messaging_product is required.")


async def test_reply_buttons_limits(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await fake.send_text(SITI, "halo")
    ok = await send(http, fake, buttons(SITI, ("yes", "Y" * 20), ("no", "Tidak")))
    assert ok[0] == 200
    status, body = await send(http, fake, buttons(SITI, ("yes", "Y" * 21)))
    assert (status, body["error"]["code"]) == (400, 131009)
    assert body["error"]["error_data"]["details"] == "Button title length invalid. Min length: 1, Max length: 20"
    status, body = await send(http, fake, buttons(SITI, ("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")))
    assert body["error"]["error_data"]["details"] == (
        "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3"
    )
    for bad in (
        buttons(SITI, ("a", "Sama"), ("b", "Sama")),
        buttons(SITI, ("i" * 257, "Ya")),
        buttons(SITI, ("a", "A"), body="x" * 1025),
    ):
        status, body = await send(http, fake, bad)
        assert (status, body["error"]["code"]) == (400, 131009), bad
    [sent] = fake.sent(SITI)
    assert sent.buttons == [("yes", "Y" * 20), ("no", "Tidak")] and sent.text == "Pilih:"


async def test_list_limits(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await fake.send_text(SITI, "halo")
    ten = [(f"r{n}", f"Baris {n}", None) for n in range(10)]
    assert (await send(http, fake, a_list(SITI, ten[:6], ten[6:])))[0] == 200
    status, body = await send(http, fake, a_list(SITI, ten[:6], [*ten[6:], ("r10", "Baris 10", None)]))
    assert (status, body["error"]["code"]) == (400, 131009)
    assert body["error"]["error_data"]["details"] == "Total row count exceed max allowed count: 10"
    status, body = await send(http, fake, a_list(SITI, ten[:5], ten[5:], titles=False))
    assert (status, body["error"]["code"]) == (400, 131008)  # a section title is needed with 2+ sections
    for rows in (
        [("r", "T" * 25, None)],
        [("r", "Baris", "D" * 73)],
        [("r" * 201, "Baris", None)],
        [("r", "A", None), ("r", "B", None)],
    ):
        status, body = await send(http, fake, a_list(SITI, rows))
        assert (status, body["error"]["code"]) == (400, 131009), rows
    assert (await send(http, fake, a_list(SITI, [("r", "T" * 24, "D" * 72)], titles=False)))[0] == 200
    assert fake.sent(SITI)[0].buttons == [(i, t) for i, t, _ in ten]


async def test_location_request_takes_only_a_body_and_the_send_location_action(
    fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    await fake.send_text(SITI, "halo")

    def request(**extra: Any) -> JSON:
        interactive = {
            "type": "location_request_message",
            "body": {"text": "Kirim lokasi Anda"},
            "action": {"name": "send_location"},
            **extra,
        }
        return {"messaging_product": "whatsapp", "to": SITI, "type": "interactive", "interactive": interactive}

    assert (await send(http, fake, request()))[0] == 200
    for bad in (request(footer={"text": "x"}), request(action={"name": "send_it"}), request(body={"text": "x" * 1025})):
        status, body = await send(http, fake, bad)
        assert (status, body["error"]["code"]) == (400, 131009), bad
    assert fake.sent(SITI)[0].text == "Kirim lokasi Anda"


async def test_outside_the_window_a_send_fails_by_status_131047_but_a_template_passes(
    fake: FakeGraphAPI, http: aiohttp.ClientSession, receiver: Receiver, clock: Clock
) -> None:
    fake.add_template("pengingat", "id", body_params=1)
    await fake.send_text(SITI, "halo")
    clock.now += 25 * 3600
    status, body = await send(http, fake, text(SITI, "masih di sana?"))
    assert status == 200  # Cloud API accepts, then reports the failure
    wamid = body["messages"][0]["id"]
    payloads = await receiver.wait(2)
    [failed] = value_of(payloads[1])["statuses"]
    assert (failed["id"], failed["status"], failed["recipient_id"]) == (wamid, "failed", SITI)
    [error] = failed["errors"]
    assert (error["code"], error["title"]) == (131047, "Re-engagement message")
    assert "24 hours" in error["error_data"]["details"] and error["href"]
    assert "pricing" not in failed and "conversation" not in failed
    assert fake.sent(SITI) == [] and [m.failed_with for m in fake.failed] == [131047]
    status, body = await send(http, fake, template(SITI, "pengingat", "Siti"))
    assert status == 200 and body["messages"][0]["message_status"] == "accepted"
    assert [m.text for m in fake.sent(SITI)] == ["template:pengingat Siti"]


async def test_window_error_response_answers_400_and_a_users_message_reopens_it(
    receiver: Receiver, clock: Clock, http: aiohttp.ClientSession
) -> None:
    async with FakeGraphAPI(clock=clock, window_error="response") as fake:
        fake.webhook_url = receiver.url
        status, body = await send(http, fake, text(SITI, "halo"))  # Siti never wrote
        assert (status, body["error"]["code"]) == (400, 131047)
        assert body["error"]["message"] == "(#131047) Re-engagement message"
        await fake.send_text(SITI, "halo")
        clock.now += WINDOW_SECONDS - 1
        assert (await send(http, fake, text(SITI, "masih buka")))[0] == 200
        clock.now += 2
        assert (await send(http, fake, text(SITI, "sudah tutup")))[0] == 400
    async with FakeGraphAPI(clock=clock, enforce_window=False) as relaxed:
        assert (await send(http, relaxed, text(SITI, "halo")))[0] == 200


async def test_injected_failures_use_the_real_status_and_message(
    fake: FakeGraphAPI, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    await fake.send_text(SITI, "halo")
    await fake.send_text(BUDI, "halo")
    fake.fail_next(130429)
    status, body = await send(http, fake, text(SITI, "satu"))
    error = error_of(body)
    assert (status, error["code"], error["message"]) == (400, 130429, "(#130429) Rate limit hit")
    assert error["error_data"]["details"] == "Cloud API message throughput has been reached."
    assert (await send(http, fake, text(SITI, "dua")))[0] == 200
    fake.fail_next(131056, to=BUDI, count=2)
    assert (await send(http, fake, text(SITI, "tiga")))[0] == 200
    for _ in range(2):
        status, body = await send(http, fake, text(BUDI, "x"))
        assert (status, body["error"]["code"]) == (400, 131056)
    assert (await send(http, fake, text(BUDI, "x")))[0] == 200
    fake.fail_next(131000)
    assert (await send(http, fake, text(SITI, "x")))[0] == 500
    fake.fail_next(131016, http_status=503)
    assert (await send(http, fake, text(SITI, "x")))[0] == 503
    fake.fail_next(131026, via="status")
    status, body = await send(http, fake, text(SITI, "tak sampai"))
    assert status == 200
    payloads = await receiver.wait(3)
    [failed] = value_of(payloads[2])["statuses"]
    assert (failed["id"], failed["errors"][0]["code"]) == (body["messages"][0]["id"], 131026)
    assert [m.text for m in fake.sent(SITI)] == ["dua", "tiga"]


async def test_templates_are_checked_against_the_registered_ones(
    fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    fake.add_template("survei", "id", body_params=2, quick_replies=["Puas", "Tidak puas"])
    status, body = await send(http, fake, template(SITI, "tidak_ada", "a"))
    assert (status, body["error"]["code"]) == (404, 132001)
    assert body["error"]["error_data"]["details"] == "template name (tidak_ada) does not exist in id"
    status, body = await send(http, fake, template(SITI, "survei", "Siti"))
    assert (status, body["error"]["code"]) == (400, 132000)
    for bad in ("baris\nbaru", "tab\there", "lima     spasi"):
        status, body = await send(http, fake, template(SITI, "survei", "Siti", bad))
        assert (status, body["error"]["code"]) == (400, 100), bad
        assert "new-line/tab" in body["error"]["error_data"]["details"]
    status, body = await send(http, fake, template(SITI, "survei", "a", "b", quick_replies=[(2, "x")]))
    assert (status, body["error"]["code"]) == (400, 131009)
    status, body = await send(http, fake, template(SITI, "survei", "Siti", "T-12", quick_replies=[(0, "puas:12")]))
    assert status == 200  # no inbound needed: templates open conversations
    [sent] = fake.sent(SITI)
    assert sent.text == "template:survei Siti | T-12"
    assert sent.buttons == [("puas:12", "Puas"), ("Tidak puas", "Tidak puas")]
    envelope = await fake.press_button(SITI, "puas:12")
    [message] = value_of(envelope)["messages"]
    assert message["type"] == "button" and message["button"] == {"payload": "puas:12", "text": "Puas"}
    assert message["context"] == {"from": fake.display_phone_number, "id": sent.id}


async def test_media_upload_url_and_download(fake: FakeGraphAPI, http: aiohttp.ClientSession, clock: Clock) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def form(data: bytes, mime_type: str) -> aiohttp.FormData:
        upload = aiohttp.FormData()
        upload.add_field("messaging_product", "whatsapp")
        upload.add_field("type", mime_type)
        upload.add_field("file", data, filename="foto.jpg", content_type=mime_type)
        return upload

    upload_url = f"{fake.api_base_url}/{fake.phone_number_id}/media"
    async with http.post(upload_url, data=form(b"\xff\xd8jpeg", "image/jpeg")) as response:
        assert response.status == 401
    async with http.post(upload_url, data=form(b"MZ", "application/x-msdownload"), headers=auth) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == 131053
    async with http.post(upload_url, data=form(b"\xff\xd8jpeg", "image/jpeg"), headers=auth) as response:
        assert response.status == 200
        media_id = (await response.json())["id"]
    async with http.get(f"{fake.api_base_url}/{media_id}") as response:
        assert response.status == 401
    async with http.get(f"{fake.api_base_url}/{media_id}", headers=auth) as response:
        info = await response.json()
    assert info == {
        "messaging_product": "whatsapp",
        "url": info["url"],
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(b"\xff\xd8jpeg").hexdigest(),
        "file_size": 6,
        "id": media_id,
    }
    async with http.get(info["url"]) as response:
        assert response.status == 401
    async with http.get(info["url"], headers=auth) as response:
        assert (response.status, response.content_type, await response.read()) == (200, "image/jpeg", b"\xff\xd8jpeg")
    clock.now += MEDIA_URL_TTL
    async with http.get(info["url"], headers=auth) as response:
        assert response.status == 404
    async with http.get(f"{fake.api_base_url}/12345", headers=auth) as response:
        assert response.status == 400 and (await response.json())["error"]["error_subcode"] == 33

    await fake.send_text(SITI, "halo")
    image: JSON = {
        "messaging_product": "whatsapp",
        "to": SITI,
        "type": "image",
        "image": {"id": media_id, "caption": "Bukti"},
    }
    assert (await send(http, fake, image))[0] == 200
    assert fake.sent(SITI)[0].text == "Bukti"
    for bad in (
        {"id": "nope"},
        {"id": media_id, "link": "https://example.org/a.jpg"},
        {"link": "https://example.org/a.jpg", "caption": "x" * 1025},
    ):
        status, body = await send(http, fake, {**image, "image": bad})
        assert (status, body["error"]["code"]) == (400, 131009), bad


async def test_deliveries_are_signed_and_only_a_genuine_one_opens_the_window(
    fake: FakeGraphAPI, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    envelope = await fake.send_text(SITI, "halo")
    headers, body = receiver.posts[0]
    expected = hmac.new(b"test-app-secret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert json.loads(body) == envelope and headers["Content-Type"] == "application/json"

    assert await fake.deliver(fake.text(BUDI, "palsu"), signature="missing") == 200
    assert SIGNATURE_HEADER not in receiver.posts[1][0]
    assert await fake.deliver(fake.text(BUDI, "palsu"), signature="wrong") == 200
    headers, body = receiver.posts[2]
    assert headers[SIGNATURE_HEADER] != "sha256=" + hmac.new(b"test-app-secret", body, hashlib.sha256).hexdigest()
    await send(http, fake, text(BUDI, "balasan"))
    assert fake.sent(BUDI) == [] and fake.failed[0].failed_with == 131047

    assert await fake.deliver_raw(b'{"object": "x"}', {"Content-Type": "application/json"}) == 200
    assert receiver.posts[3][1] == b'{"object": "x"}'


async def test_builders_have_the_documented_shapes(fake: FakeGraphAPI) -> None:
    value = value_of(fake.text(SITI, "halo", name="Siti Aminah"))
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": "6281100000000", "phone_number_id": "1000000001"}
    assert value["contacts"] == [{"profile": {"name": "Siti Aminah"}, "wa_id": SITI}]
    [message] = value["messages"]
    assert set(message) == {"from", "id", "timestamp", "type", "text"}
    assert (message["from"], message["type"], message["text"]) == (SITI, "text", {"body": "halo"})
    assert message["id"].startswith("wamid.") and message["timestamp"] == "1750000000"

    def message_of(envelope: JSON) -> JSON:
        value = value_of(envelope)
        assert value["contacts"][0]["profile"]["name"] == "Siti Aminah"  # the name sticks to the user
        return value["messages"][0]

    reply = message_of(fake.button_reply(SITI, "yes", "Ya", context_id="wamid.X"))
    assert reply["interactive"] == {"type": "button_reply", "button_reply": {"id": "yes", "title": "Ya"}}
    assert reply["type"] == "interactive" and reply["context"] == {"from": "6281100000000", "id": "wamid.X"}
    row = message_of(fake.list_reply(SITI, "r1", "Bansos", "Bantuan sosial"))
    assert row["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "r1", "title": "Bansos", "description": "Bantuan sosial"},
    }
    assert "context" not in row
    pressed = message_of(fake.template_button(SITI, "puas", "Puas", context_id="wamid.T"))
    assert (pressed["type"], pressed["button"]) == ("button", {"payload": "puas", "text": "Puas"})
    place = message_of(fake.location(SITI, -6.2, 106.8, "Kantor Dinsos", "Jl. Merdeka 1"))
    assert place["location"] == {
        "latitude": -6.2,
        "longitude": 106.8,
        "name": "Kantor Dinsos",
        "address": "Jl. Merdeka 1",
    }
    photo = message_of(fake.image(SITI, b"jpeg-bytes", caption="KTP"))
    assert set(photo["image"]) == {"mime_type", "sha256", "id", "caption"}
    assert photo["image"]["sha256"] == base64.b64encode(hashlib.sha256(b"jpeg-bytes").digest()).decode()
    card = message_of(fake.contacts(SITI, "+62 812-0000-1111", "Budi Santoso"))
    assert card["contacts"] == [
        {
            "name": {"formatted_name": "Budi Santoso", "first_name": "Budi"},
            "phones": [{"phone": "+62 812-0000-1111", "wa_id": "6281200001111", "type": "CELL"}],
        }
    ]
    for kind, keys in (
        ("sticker", {"mime_type", "sha256", "id", "animated"}),
        ("audio", {"mime_type", "sha256", "id", "voice"}),
        ("video", {"mime_type", "sha256", "id"}),
        ("document", {"mime_type", "sha256", "id", "filename"}),
        ("reaction", {"message_id", "emoji"}),
    ):
        other = message_of(fake.unsupported(SITI, kind))  # type: ignore[arg-type]
        assert other["type"] == kind and set(other[kind]) == keys, kind
    unknown = message_of(fake.unsupported(SITI, "unsupported"))
    assert unknown["type"] == "unsupported"
    assert unknown["errors"][0]["code"] == 131051 and unknown["errors"][0]["error_data"]["details"]

    for status in ("sent", "delivered", "read"):
        [entry] = value_of(fake.statuses("wamid.A", status, recipient_id=SITI))["statuses"]
        assert {"id", "status", "timestamp", "recipient_id"} <= set(entry)
        assert ("pricing" in entry) == ("conversation" in entry) == (status != "read")
    [sent] = value_of(fake.statuses("wamid.A", "sent", recipient_id=SITI))["statuses"]
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }
    assert sent["conversation"]["origin"] == {"type": "service"} and "expiration_timestamp" in sent["conversation"]
    [failed] = value_of(fake.statuses("wamid.A", "failed", recipient_id=SITI, errors=[131026]))["statuses"]
    assert set(failed["errors"][0]) == {"code", "title", "message", "error_data", "href"}


async def test_press_button_and_select_row_answer_the_latest_offer(
    fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    await fake.send_text(SITI, "halo")
    await send(http, fake, buttons(SITI, ("yes", "Ya"), ("no", "Tidak")))
    await send(http, fake, a_list(SITI, [("bansos", "Bansos", "Bantuan sosial"), ("kip", "KIP", None)]))
    first, second = fake.sent(SITI)
    envelope = await fake.press_button(SITI, "no")
    [message] = value_of(envelope)["messages"]
    assert message["interactive"]["button_reply"] == {"id": "no", "title": "Tidak"}
    assert message["context"]["id"] == first.id
    envelope = await fake.select_row(SITI, "bansos")
    [message] = value_of(envelope)["messages"]
    assert message["interactive"]["list_reply"] == {"id": "bansos", "title": "Bansos", "description": "Bantuan sosial"}
    assert message["context"]["id"] == second.id
    with pytest.raises(ValueError, match="offered"):
        await fake.press_button(SITI, "bansos")  # a row is not a button


async def test_auto_statuses_and_mark_as_read(receiver: Receiver, clock: Clock, http: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI(clock=clock, auto_statuses=True) as fake:
        fake.webhook_url = receiver.url
        inbound = await fake.send_text(SITI, "halo")
        status, body = await send(
            http,
            fake,
            {"messaging_product": "whatsapp", "status": "read", "message_id": value_of(inbound)["messages"][0]["id"]},
        )
        assert (status, body) == (200, {"success": True})
        status, body = await send(http, fake, text(SITI, "halo juga"))
        wamid = body["messages"][0]["id"]
    statuses = [value_of(p)["statuses"][0] for p in receiver.payloads()[1:]]  # close() waited for them
    assert [(s["id"], s["status"]) for s in statuses] == [(wamid, "sent"), (wamid, "delivered")]


async def test_wait_for_sent_explains_a_timeout(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await fake.send_text(SITI, "halo")
    waiting = asyncio.ensure_future(fake.wait_for_sent(SITI, 1, timeout=2))
    await send(http, fake, text(SITI, "x" * 5000))
    await send(http, fake, text(SITI, "akhirnya"))
    assert [m.text for m in await waiting] == ["akhirnya"]
    with pytest.raises(AssertionError, match=r"\(400, 131009\)"):
        await fake.wait_for_sent(SITI, 2, timeout=0.1)
