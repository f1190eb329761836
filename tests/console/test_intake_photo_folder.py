"""Assisted intake when the photos folder cannot be written: the officer is told on the form
(everything typed kept, nothing filed), the error is logged, and the next try files the report
with its photo once the folder is writable again."""

from __future__ import annotations

import logging

import pytest

from tests.console.test_intake import complaint, jpeg, send, stored_photos, tickets
from tests.support.console import ConsoleOffice
from tests.support.faults import unwritable


async def test_photos_the_server_cannot_write_keep_the_form_and_file_nothing(
    office: ConsoleOffice, caplog: pytest.LogCaptureFixture
) -> None:
    member = await office.signed_in(await office.hire("Fasilitator Desa"))
    caplog.set_level(logging.ERROR)
    with unwritable(office.services.attachments_dir):
        answer = await send(member, complaint(office), photos=[("rumah.jpg", jpeg(), "image/jpeg")])
    assert answer.status == 503
    page = await answer.text()
    assert "Foto belum bisa disimpan karena gangguan di server" in page
    assert "Jl. Kenanga 3, RT 02" in page, "what was typed is still on the form"
    assert await tickets(office) == []
    assert any("could not keep a photo" in r.getMessage() for r in caplog.records)

    again = await send(member, complaint(office), photos=[("rumah.jpg", jpeg(), "image/jpeg")])
    assert again.status == 303
    assert len(await tickets(office)) == 1
    assert await stored_photos(office) == (1, 1)
    await member.close()
