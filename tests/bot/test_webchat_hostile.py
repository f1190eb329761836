"""The web chat against what a careless or hostile client sends: sessions the server never
issued, a TLS proxy in front, cursors and uploads no page would send. Each gets a clear answer
(a new session, a 400 with a kind sentence) and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from http.cookies import SimpleCookie

import pytest
from aiohttp import ClientSession, FormData
from aiohttp.test_utils import TestClient, TestServer

from bot.app import DATABASE, create_app
from bot.channels.webchat import COOKIE, chat_id_of
from bot.settings import Settings
from storage import repo
from tests.support.clock import MONDAY_MORNING, running_clock
from tests.support.webchat import HEADERS, WebCitizen, jpeg

PLANTED = "attacker-chose-this-value-0123456789abcdefghij"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TestServer]:
    async with TestServer(create_app(settings, clock=running_clock())) as test_server:
        yield test_server


async def citizen(server: TestServer) -> WebCitizen:
    client = TestClient(server)
    await client.start_server()
    person = WebCitizen(client)
    await person.open()
    return person


def issued_cookie(set_cookie: str) -> str:
    return SimpleCookie(set_cookie)[COOKIE].value


async def test_a_planted_cookie_is_replaced_by_one_the_server_issues_and_never_adopted(server: TestServer) -> None:
    for planted in (PLANTED, PLANTED + ".0123456789abcdef0123456789abcdef", "x"):
        async with ClientSession(cookies={COOKIE: planted}) as browser:
            refused = await browser.get(server.make_url("/api/chat/messages?after=0"))
            assert refused.status == 401, planted
            talked = await browser.post(
                server.make_url("/api/chat/send"), json={"client_id": "abcdefgh12", "text": "halo"}, headers=HEADERS
            )
            assert talked.status == 401, planted
            page = await browser.get(server.make_url("/"))
            issued = issued_cookie(page.headers["Set-Cookie"])
            assert issued != planted
    db = server.app[DATABASE]
    assert await db.read(repo.find_contact, channel="web", external_id=chat_id_of(PLANTED)) is None


async def test_an_issued_session_is_kept_and_works(server: TestServer) -> None:
    person = await citizen(server)
    [first] = [c.value for c in person.client.session.cookie_jar if c.key == COOKIE]
    again = await person.client.get("/")
    assert "Set-Cookie" not in again.headers, "a session the server issued is not replaced"
    await person.type("/mulai")
    assert person.last["step"] == "menu"
    assert [c.value for c in person.client.session.cookie_jar if c.key == COOKIE] == [first]
    await person.client.close()


async def test_a_chat_begun_before_sessions_were_signed_goes_on(server: TestServer) -> None:
    """A cookie of the old kind (a bare random token) whose chat exists was issued by this
    server: its person keeps their conversation across the upgrade."""
    old = "Zk3v0l1b8Qm2nR7tY5wXc9aP4sD6fG1hJ0kL2zX3c4V"
    db = server.app[DATABASE]
    await db.run(
        repo.get_or_create_contact,
        channel="web",
        external_id=chat_id_of(old),
        chat_id=chat_id_of(old),
        language="id",
        display_name=None,
        now=MONDAY_MORNING,
    )
    async with ClientSession(cookies={COOKIE: old}) as browser:
        page = await browser.get(server.make_url("/"))
        assert "Set-Cookie" not in page.headers
        answer = await browser.get(server.make_url("/api/chat/messages?after=0"))
        assert answer.status == 200


@pytest.mark.parametrize(
    ("changes", "headers", "secure"),
    [
        ({}, {}, False),
        ({"behind_proxy": True}, {"X-Forwarded-Proto": "https"}, True),
        ({"behind_proxy": True}, {}, False),
        ({}, {"X-Forwarded-Proto": "https"}, False),  # no proxy declared: anyone could write the header
        ({"public_url": "https://dinsos.example.go.id"}, {}, True),
    ],
)
async def test_the_chat_cookie_is_secure_when_the_browser_came_over_tls(
    settings: Settings, changes: dict[str, object], headers: dict[str, str], secure: bool
) -> None:
    app = create_app(replace(settings, **changes), clock=running_clock())
    async with TestServer(app) as server, ClientSession() as browser:
        page = await browser.get(server.make_url("/"), headers=headers)
        cookie = SimpleCookie(page.headers["Set-Cookie"])[COOKIE]
        assert bool(cookie["secure"]) is secure
        assert cookie["httponly"]


BAD_AFTER = ["1e999", "100000000000000000000000000000", str(2**31), "-1", "abc", "1.5", "٣"]


async def test_a_cursor_no_page_sends_gets_a_kind_400(server: TestServer) -> None:
    person = await citizen(server)
    for after in BAD_AFTER:
        answer = await person.client.get(f"/api/chat/messages?after={after}")
        assert answer.status == 400, after
        body = await answer.json()
        assert body["error"] == "bad_after" and "Muat ulang halaman" in body["message"]
        raw = f'{{"client_id": "abcdefgh12", "text": "halo", "after": {after if after[0].isdigit() else json.dumps(after)}}}'
        sent = await person.client.post(
            "/api/chat/send", data=raw, headers={**HEADERS, "Content-Type": "application/json"}
        )
        assert sent.status == 400, raw
        assert "Muat ulang halaman" in (await sent.json())["message"]
    english = await person.client.get("/api/chat/messages?after=1e999&lang=en")
    assert "Reload this page" in (await english.json())["message"]
    good = await person.client.get(f"/api/chat/messages?after={2**31 - 1}")
    assert good.status == 200
    assert (await person.client.get("/healthz")).status == 200
    await person.client.close()


async def test_uploads_no_page_sends_get_a_kind_400_and_the_chat_goes_on(server: TestServer) -> None:
    person = await citizen(server)
    await person.type("/mulai")
    as_json = await person.client.post("/api/chat/photo", json={"photo": "aGVsbG8="}, headers=HEADERS)
    assert as_json.status == 400 and (await as_json.json())["error"] == "bad_upload"

    boundary = "satupintu-boundary"
    whole = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="client_id"\r\n\r\nabcdefgh12\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + jpeg()[:200]
    truncated = await person.client.post(
        "/api/chat/photo",
        data=whole,
        headers={**HEADERS, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert truncated.status == 400

    latin = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="client_id"\r\n\r\n'.encode()
        + b"abc\xff\xfe\xfddefgh"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    not_utf8 = await person.client.post(
        "/api/chat/photo", data=latin, headers={**HEADERS, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert not_utf8.status == 400 and (await not_utf8.json())["error"] in ("bad_upload", "bad_client_id")

    form = FormData()
    form.add_field("client_id", "abcdefgh12")
    form.add_field("after", "1e999")
    form.add_field("photo", jpeg(), filename="a.jpg", content_type="image/jpeg")
    bad_after = await person.client.post("/api/chat/photo", data=form, headers=HEADERS)
    assert bad_after.status == 400 and (await bad_after.json())["error"] == "bad_after"

    await person.press("complaint")  # nothing was lost: the conversation goes on
    assert person.last["step"] == "consent"
    await person.client.close()
