"""NIK (Nomor Induk Kependudukan) checks.

A NIK is 16 digits: region code where first registered (province 2, kab/kota 2, kecamatan 2),
birth date DDMMYY with 40 added to the day for women, and a 4-digit serial from 0001. We check
its shape only: a NIK that passes may still not exist, and its region is where the person was
first registered, never where they live now.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

# Kemendagri province codes, 38 provinces (2025). Old NIKs keep the code of the province that
# existed when they were issued; every such code is still in this list.
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        "11",  # Aceh
        "12",  # Sumatera Utara
        "13",  # Sumatera Barat
        "14",  # Riau
        "15",  # Jambi
        "16",  # Sumatera Selatan
        "17",  # Bengkulu
        "18",  # Lampung
        "19",  # Kepulauan Bangka Belitung
        "21",  # Kepulauan Riau
        "31",  # DKI Jakarta
        "32",  # Jawa Barat
        "33",  # Jawa Tengah
        "34",  # DI Yogyakarta
        "35",  # Jawa Timur
        "36",  # Banten
        "51",  # Bali
        "52",  # Nusa Tenggara Barat
        "53",  # Nusa Tenggara Timur
        "61",  # Kalimantan Barat
        "62",  # Kalimantan Tengah
        "63",  # Kalimantan Selatan
        "64",  # Kalimantan Timur
        "65",  # Kalimantan Utara
        "71",  # Sulawesi Utara
        "72",  # Sulawesi Tengah
        "73",  # Sulawesi Selatan
        "74",  # Sulawesi Tenggara
        "75",  # Gorontalo
        "76",  # Sulawesi Barat
        "81",  # Maluku
        "82",  # Maluku Utara
        "91",  # Papua
        "92",  # Papua Barat
        "93",  # Papua Selatan
        "94",  # Papua Tengah
        "95",  # Papua Pegunungan
        "96",  # Papua Barat Daya
    }
)

NIK_LENGTH = 16
WOMAN_DAY_OFFSET = 40

# Separators people type when copying a NIK from a card: spaces (any Unicode space), dots and
# the dashes phone keyboards produce (hyphen, non-breaking hyphen, en and em dash, minus sign).
_SEPARATORS = re.compile(r"[\s.\-\u2010\u2011\u2012\u2013\u2014\u2212]+")


@dataclass(frozen=True)
class NikCheck:
    """Result of `check_nik`. When `ok`, `nik` is the 16 normalised digits and the parsed parts
    are set; otherwise `error` is a machine code: length, digits, province, date or serial."""

    ok: bool
    nik: str | None
    error: str | None
    region_code: str | None = None
    birth_date: datetime.date | None = None
    sex: str | None = None


def _fail(error: str) -> NikCheck:
    return NikCheck(ok=False, nik=None, error=error)


def _birth_date(ddmmyy: str, today: datetime.date) -> tuple[datetime.date, str] | None:
    """Birth date and sex from DDMMYY. The century is a guess (20YY unless that year is still
    to come), so a person aged 100 or more gets a wrong year; the card cannot tell us better."""
    day, month, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    if 1 <= day <= 31:
        sex = "M"
    elif 1 + WOMAN_DAY_OFFSET <= day <= 31 + WOMAN_DAY_OFFSET:
        sex, day = "F", day - WOMAN_DAY_OFFSET
    else:
        return None
    year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    try:
        born = datetime.date(year, month, day)
    except ValueError:  # month 0 or 13, 31 February, 29 February in a common year
        return None
    if born > today:
        return None
    return born, sex


def check_nik(raw: str, *, today: datetime.date) -> NikCheck:
    """Normalise and check a typed NIK; the first failing rule (length, digits, province, date,
    serial) is reported so the reply can name the one thing to fix."""
    nik = _SEPARATORS.sub("", raw)
    if len(nik) != NIK_LENGTH:
        return _fail("length")
    if not (nik.isascii() and nik.isdigit()):
        return _fail("digits")
    if nik[:2] not in PROVINCE_CODES:
        return _fail("province")
    parsed = _birth_date(nik[6:12], today)
    if parsed is None:
        return _fail("date")
    if nik[12:] == "0000":
        return _fail("serial")
    born, sex = parsed
    return NikCheck(ok=True, nik=nik, error=None, region_code=nik[:6], birth_date=born, sex=sex)


def mask_nik(nik: str) -> str:
    """Show a NIK with its middle eight digits (birth date and district) hidden, e.g. for a
    summary message; anything that is not 16 digits is masked whole, so nothing leaks."""
    if len(nik) == NIK_LENGTH and nik.isascii() and nik.isdigit():
        return nik[:4] + "*" * 8 + nik[-4:]
    return "*" * len(nik)
