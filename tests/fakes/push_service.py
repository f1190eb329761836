"""A local fake of a browser push service (what FCM or Mozilla's autopush do for a browser), so
the web chat's Web Push can be tested end to end over real HTTP.

    subscriber = Subscriber()                          # a browser: its ECDH key pair and auth secret
    async with FakePushService() as fake:
        body = subscriber.subscription(fake.endpoint("siti"))   # what the page posts to /api/chat/push
        ...
        [payload] = await fake.wait_for("siti", 1)      # the decrypted pushes to that endpoint

What a real push service checks is enforced: the VAPID `Authorization: vapid t=<JWT>, k=<key>`
header (an ES256 signature verified with `k`, `aud` the push service's origin, `exp` in the
future and at most a day ahead, a `sub`), a TTL header and the aes128gcm body, which is
decrypted with the subscriber's private key as the browser would. A request that fails a check
gets 401/400. `status_for` answers a given endpoint with another status (410: the subscription
is gone), `fail_next` only its next N requests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections import defaultdict
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Subscriber:
    """A browser's side of one subscription: made as `pushManager.subscribe` makes it."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth_secret)},
        }

    def decrypt(self, body: bytes) -> bytes:
        return http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")


def check_vapid(header: str, audience: str) -> dict[str, Any]:
    """The JWT's claims when the header is a valid VAPID one for `audience`; ValueError otherwise."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError("not a vapid authorization")
    params = dict(part.strip().split("=", 1) for part in rest.split(","))
    token, key = params["t"], params["k"]
    head, claims, signature = token.split(".")
    if json.loads(unb64url(head)).get("alg") != "ES256":
        raise ValueError("not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    raw = unb64url(signature)
    if len(raw) != 64:
        raise ValueError("not a raw ES256 signature")
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("bad signature") from None
    found = json.loads(unb64url(claims))
    now = time.time()
    if found.get("aud") != audience:
        raise ValueError(f"aud {found.get('aud')!r} is not {audience!r}")
    if not now < int(found.get("exp", 0)) <= now + 24 * 3600:
        raise ValueError("exp not in the next 24 hours")
    if not str(found.get("sub", "")).startswith(("mailto:", "https:", "http:")):
        raise ValueError("no sub")
    found["k"] = key
    return found


class FakePushService:
    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.claims: list[dict[str, Any]] = []
        self.status_for: dict[str, int] = {}
        self.fail_next: dict[str, list[int]] = defaultdict(list)
        self.requests = 0
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def endpoint(self, name: str) -> str:
        return f"{self.url}/push/{name}"

    def subscribe(self, name: str) -> dict[str, Any]:
        """A new browser subscribed at this service: its subscription JSON."""
        self.subscribers[name] = Subscriber()
        return self.subscribers[name].subscription(self.endpoint(name))

    async def __aenter__(self) -> FakePushService:
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _push(self, request: web.Request) -> web.Response:
        self.requests += 1
        name = request.match_info["name"]
        subscriber = self.subscribers.get(name)
        if subscriber is None:
            return web.Response(status=404)
        if self.fail_next[name]:
            return web.Response(status=self.fail_next[name].pop(0))
        if name in self.status_for:
            return web.Response(status=self.status_for[name])
        try:
            claims = check_vapid(request.headers.get("Authorization", ""), self.url)
        except (ValueError, KeyError) as error:
            return web.Response(status=401, text=str(error))
        if request.headers.get("Content-Encoding") != "aes128gcm" or not request.headers.get("TTL", "").isdigit():
            return web.Response(status=400, text="aes128gcm body and a TTL header expected")
        payload = json.loads(subscriber.decrypt(await request.read()))
        async with self._arrived:
            self.claims.append(claims)
            self.received[name].append(payload)
            self._arrived.notify_all()
        return web.Response(status=201)

    async def wait_for(self, name: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.received[name]) >= count), timeout)
        return list(self.received[name])
