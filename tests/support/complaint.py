"""The neighbour's complaint that the chat tests file, the same on every button channel: a
person who can `type`, `press` a choice by its title, share a `location`, send a `photo`, and
say whether the last replies `asked_for_location`."""

from __future__ import annotations

from typing import Any, Protocol


class ChatPerson(Protocol):
    async def type(self, text: str) -> list[Any]: ...
    async def press(self, title: str) -> list[Any]: ...
    async def location(self, latitude: float, longitude: float) -> list[Any]: ...
    async def photo(self, data: bytes) -> list[Any]: ...
    def asked_for_location(self, replies: list[Any]) -> bool: ...
    @property
    def last(self) -> Any: ...


async def file_complaint(
    person: ChatPerson,
    photo: bytes | None = None,
    greeting: str = "/start",
    *,
    name: str = "Mbah Sarinah",
    description: str = "Nenek tinggal sendiri dan tidak ada yang merawat sejak bulan lalu.",
) -> str:
    """Mbah Sarinah, 80, left alone in Giwangan (or whom another neighbour names, in their
    words): the confirmation's text."""
    await up_to_photos(person, greeting, name=name)
    if photo is not None:
        replies = await person.photo(photo)
        assert "Foto diterima" in replies[0].text
        await person.press("Selesai")
    else:
        await person.press("Lewati")
    await person.type(description)
    await person.type("0812 3456 7890")
    assert "Periksa lagi" in person.last.text
    replies = await person.press("Kirim")
    return replies[0].text


async def up_to_photos(person: ChatPerson, greeting: str = "/start", *, name: str = "Mbah Sarinah") -> None:
    """The same complaint up to the question that asks for photos."""
    await person.type(greeting)
    for title in ("Pengaduan", "Setuju", "Lansia", "Lansia telantar", "Orang lain"):
        await person.press(title)
    await person.type(name)
    await person.press("Tidak tahu")
    await person.type("80")
    for title in ("Perempuan", "Umbulharjo", "Giwangan"):
        await person.press(title)
    replies = await person.type("Jl. Imogiri Timur RT 03, dekat masjid")
    assert person.asked_for_location(replies), replies
    await person.location(-7.8305, 110.392)


async def file_own_complaint(person: ChatPerson, *, name: str, nik: str, phone: str | None, story: str) -> str:
    """Siti, 76, alone in Giwangan, reports about herself: her name, NIK and (unless None) phone
    number, no photo or location. Returns the confirmation's text."""
    await person.type("/start")
    for title in ("Pengaduan", "Setuju", "Lansia", "Lansia telantar", "Saya sendiri"):
        await person.press(title)
    await person.type(name)
    await person.type(nik)
    await person.type("76")
    for title in ("Perempuan", "Umbulharjo", "Giwangan"):
        await person.press(title)
    await person.type("Jl. Imogiri Timur RT 03")
    await person.type("Lewati")  # no location: the skip is on the reply keyboard
    await person.press("Lewati")
    await person.type(story)
    await (person.type(phone) if phone else person.press("Lewati"))
    replies = await person.press("Kirim")
    return replies[0].text
