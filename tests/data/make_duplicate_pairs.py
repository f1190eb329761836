"""Write `duplicate_pairs.jsonl`: labelled pairs of reports for measuring the duplicate lookup
(`bench/duplicates.py` prints its precision and recall on them).

Each line is two reports filed in the same village and category group — the lookup's place
narrowing has already made them candidates, so what is measured is whether their words tell
the same case from another — and `same`: whether they are about the same person.

Positives: one person (an ODGJ wandering near the market, a neglected grandmother, a child
begging at the crossroads…) told by two neighbours in their own words: the name given in full,
as a nickname, or not at all; the details each noticed (where, what they wear, how old) in
another order and phrasing, with the slang and typos of a phone keyboard. Hard negatives: two
different people of the same kind in the same village, told in the same stock phrases, with
their own names and details. Seeded, so the file is the same on every run:

    python tests/data/make_duplicate_pairs.py   # writes tests/data/duplicate_pairs.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("duplicate_pairs.jsonl")
SEED = 20261203
PAIRS_PER_KIND = 40  # positives and as many hard negatives per kind of case

PLACES = [
    "pasar Giwangan",
    "terminal Giwangan",
    "masjid Al-Ikhlas",
    "SD Negeri 2",
    "perempatan Tegalgendu",
    "jembatan Kali Gajah Wong",
    "alun-alun selatan",
    "stasiun Lempuyangan",
    "pos ronda RT 04",
    "warung Bu Tini",
    "makam Kotagede",
    "balai desa",
    "lapangan voli",
    "pom bensin Jl. Imogiri",
]
CLOTHES = [
    "baju merah",
    "kaos hitam sobek",
    "sarung kotak-kotak",
    "celana pendek biru",
    "jaket hijau lusuh",
    "daster batik",
    "kemeja putih kotor",
    "tanpa alas kaki",
]
MEN = ["Slamet", "Paijo", "Sugeng", "Wagiman", "Karto", "Tukimin", "Parno", "Darmo", "Sukijan", "Ngadimin"]
WOMEN = ["Sarinah", "Painem", "Tumini", "Sukinah", "Wagini", "Suminah", "Partinah", "Ngatiyem", "Jumirah", "Warsih"]
CHILDREN = ["Bayu", "Dimas", "Rizky", "Putri", "Anisa", "Fajar", "Dewi", "Yoga", "Nanda", "Rara"]


def _typos(text: str, rng: random.Random) -> str:
    """What a phone keyboard and a hurry do to a text: abbreviations, a dropped letter."""
    swaps = {
        "tidak": rng.choice(["tidak", "tdk", "gak", "nggak"]),
        "yang": rng.choice(["yang", "yg"]),
        "sudah": rng.choice(["sudah", "sdh", "udah"]),
        "dengan": rng.choice(["dengan", "dgn"]),
        "orang": rng.choice(["orang", "org"]),
    }
    words = [swaps.get(w, w) for w in text.split()]
    if rng.random() < 0.3 and len(words) > 4:
        i = rng.randrange(len(words))
        if len(words[i]) > 4:
            j = rng.randrange(1, len(words[i]) - 1)
            words[i] = words[i][:j] + words[i][j + 1 :]
    return " ".join(words)


class Kind:
    """A kind of case: how people name its subject, and the stock phrases they tell it in."""

    def __init__(self, key: str, people: list[tuple[list[str], list[str]]], phrases: list[str]) -> None:
        self.key, self.people, self.phrases = key, people, phrases  # people: (names, their titles)

    def person(self, rng: random.Random) -> dict[str, object]:
        names, titles = rng.choice(self.people)
        return {
            "name": rng.choice(names),
            "title": rng.choice(titles),
            "place": rng.choice(PLACES),
            "clothes": rng.choice(CLOTHES),
            "age": rng.choice([6, 8, 10, 12, 35, 40, 45, 50, 60, 70, 75, 80, 85]),
        }

    def report(self, person: dict[str, object], rng: random.Random) -> dict[str, str | None]:
        """One citizen's report of `person`: their words, with or without the name."""
        given = rng.random()
        if given < 0.45:
            name = f"{person['title']} {person['name']}"
        elif given < 0.7:
            name = str(person["name"])
        else:
            name = None
        phrase = rng.choice(self.phrases)
        text = phrase.format(**person)
        details = [
            f"umurnya sekitar {person['age']} tahun",
            f"pakai {person['clothes']}",
            f"sering di dekat {person['place']}",
        ]
        rng.shuffle(details)
        text = text + " " + ", ".join(details[: rng.randint(1, 3)]) + "."
        if name is None and rng.random() < 0.5:
            text = f"Namanya {person['name']}. " + text
        return {"name": name, "description": _typos(text, rng)}


KINDS = [
    Kind(
        "odgj",
        [(MEN, ["Pak", "Mas"]), (WOMEN, ["Bu", "Mbak"])],
        [
            "Ada orang gangguan jiwa berkeliaran di jalan, kadang marah-marah ke pengendara.",
            "ODGJ tidur di emperan toko, bicara sendiri dan tidak mau diajak pulang.",
            "Orang dengan gangguan jiwa mengamuk, warga takut, mohon segera dijemput.",
            "Ada yang stres berat jalan kaki tanpa tujuan, kelihatan tidak terurus dan kelaparan.",
            "Warga kami sakit jiwa, keluarganya tidak ada, sering telanjang di jalan.",
        ],
    ),
    Kind(
        "lansia",
        [(MEN, ["Mbah", "Kakek", "Eyang"]), (WOMEN, ["Mbah", "Nenek", "Eyang"])],
        [
            "Lansia tinggal sendiri, tidak ada yang merawat, sering tidak makan.",
            "Ada orang tua sebatang kara, rumahnya hampir roboh dan sakit-sakitan.",
            "Nenek di kampung kami hidup sendirian sejak anaknya merantau, butuh bantuan makan.",
            "Simbah sudah tidak bisa jalan, tidur di lantai, tetangga yang kadang kasih makan.",
            "Lansia terlantar, pikun, sering tersesat dan tidak pulang ke rumah.",
        ],
    ),
    Kind(
        "anak",
        [(CHILDREN, ["adik", "anak", "bocah"])],
        [
            "Anak kecil mengemis di lampu merah sampai malam, tidak sekolah.",
            "Ada anak jalanan tidur di pinggir jalan, kelihatan kurus dan kotor.",
            "Bocah dipaksa mengamen oleh orang dewasa, sering dimarahi kalau dapat sedikit.",
            "Anak putus sekolah berkeliaran minta-minta ke warung-warung.",
            "Anak terlantar, orang tuanya entah di mana, makan dari belas kasihan warga.",
        ],
    ),
    Kind(
        "disabilitas",
        [(MEN, ["Pak", "Mas"]), (WOMEN, ["Bu", "Mbak"])],
        [
            "Penyandang disabilitas lumpuh, tidak punya kursi roda, hanya bisa di tempat tidur.",
            "Warga tuna netra hidup sendiri, kesulitan makan dan berobat.",
            "Ada difabel dipasung keluarganya di belakang rumah.",
            "Penyandang cacat kaki, ingin bantuan alat bantu jalan dan belum punya BPJS.",
            "Orang lumpuh karena stroke, keluarganya miskin, belum dapat bantuan apa pun.",
        ],
    ),
    Kind(
        "miskin",
        [(MEN, ["Pak"]), (WOMEN, ["Bu"])],
        [
            "Keluarga miskin belum terdaftar bantuan, anaknya tiga dan tidak bisa bayar sekolah.",
            "Warga tidak mampu tinggal di gubuk, penghasilan dari memulung.",
            "Fakir miskin sakit-sakitan, tidak punya BPJS, butuh surat keterangan tidak mampu.",
            "Rumah tidak layak huni, atap bocor, penghuninya janda miskin.",
            "Keluarga kelaparan karena kepala keluarga kena PHK, belum dapat bantuan.",
        ],
    ),
]


def _different(kind: Kind, first: dict[str, object], rng: random.Random) -> dict[str, object]:
    """Another person of the same kind: their own name, and not the same place and clothes."""
    while True:
        other = kind.person(rng)
        if other["name"] != first["name"] and (other["place"], other["clothes"]) != (first["place"], first["clothes"]):
            return other


def pairs(rng: random.Random) -> list[dict[str, object]]:
    made: list[dict[str, object]] = []
    for kind in KINDS:
        for _ in range(PAIRS_PER_KIND):
            person = kind.person(rng)
            made.append({"kind": kind.key, "same": True, "a": kind.report(person, rng), "b": kind.report(person, rng)})
            other = _different(kind, person, rng)
            made.append({"kind": kind.key, "same": False, "a": kind.report(person, rng), "b": kind.report(other, rng)})
    rng.shuffle(made)
    return made


def main() -> None:
    made = pairs(random.Random(SEED))
    with OUT.open("w", encoding="utf-8") as out:
        for pair in made:
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    print(f"{len(made)} pairs ({sum(bool(p['same']) for p in made)} the same person) in {OUT}")


if __name__ == "__main__":
    main()
