"""What a citizen notices of the validators: which NIKs, phone numbers and ticket numbers are
accepted, what they become, and that the category menus fit the chat platforms."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from workflows.validation.nik import PROVINCE_CODES, check_nik, mask_nik
from workflows.validation.phone import normalize_phone
from workflows.validation.ticket_number import (
    format_ticket_number,
    parse_ticket_number,
    validate_prefix,
)

TODAY = date(2026, 3, 15)
CATEGORIES = Path(__file__).resolve().parents[2] / "workflows" / "data" / "categories.yaml"


# --- NIK -------------------------------------------------------------------------------------


def test_male_nik_parses_birth_date_and_sex() -> None:
    check = check_nik("3174051208850001", today=TODAY)
    assert check.ok and check.error is None
    assert check.nik == "3174051208850001"
    assert check.region_code == "317405"
    assert check.birth_date == date(1985, 8, 12)
    assert check.sex == "M"


def test_female_nik_has_forty_added_to_the_day() -> None:
    check = check_nik("1310015203020003", today=TODAY)
    assert check.ok
    assert check.birth_date == date(2002, 3, 12)
    assert check.sex == "F"


def test_female_on_the_31st_is_day_71() -> None:
    check = check_nik("3273017112990012", today=TODAY)
    assert check.ok and check.birth_date == date(1999, 12, 31) and check.sex == "F"


def test_child_born_this_year_is_accepted() -> None:
    check = check_nik("3507040101260001", today=TODAY)
    assert check.ok and check.birth_date == date(2026, 1, 1)


@pytest.mark.parametrize(
    "typed",
    [
        "3174 0512 0885 0001",
        "3174-0512-0885-0001",
        "3174.05.120885.0001",
        " 317405 120885 0001 ",
        "3174\u00a00512\u20130885\u20130001",  # non-breaking space and en dash from a phone keyboard
    ],
)
def test_separators_people_type_are_ignored(typed: str) -> None:
    check = check_nik(typed, today=TODAY)
    assert check.ok and check.nik == "3174051208850001"


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("317405120885001", "length"),  # 15 digits: one forgotten
        ("31740512088500011", "length"),  # 17 digits
        ("", "length"),
        ("3174O51208850001", "digits"),  # letter O for zero
        ("31740512088S0001", "digits"),
        ("\u0663\u0661\u0667\u0664051208850001", "digits"),  # Arabic-Indic digits
        ("9974051208850001", "province"),  # province 99 does not exist
        ("0074051208850001", "province"),
        ("2074051208850001", "province"),
        ("3174053102900001", "date"),  # 31 February
        ("3174052902010001", "date"),  # 29 February in a common year
        ("3174057201900001", "date"),  # day 72
        ("3174053501900001", "date"),  # day 35: neither a man's nor a woman's day
        ("3174050001900001", "date"),  # day 0
        ("3174051513900001", "date"),  # month 13
        ("3174051506260001", "date"),  # 15 June 2026: not born yet on 15 March 2026
        ("3174051208850000", "serial"),
    ],
)
def test_each_error_code(typed: str, error: str) -> None:
    check = check_nik(typed, today=TODAY)
    assert not check.ok
    assert check.error == error
    assert check.nik is None and check.birth_date is None and check.sex is None


def test_first_failure_wins() -> None:
    # bad province, bad date and serial 0000 at once: province is reported
    assert check_nik("9974053102900000", today=TODAY).error == "province"
    # bad date and serial 0000: date is reported
    assert check_nik("3174053102900000", today=TODAY).error == "date"


def test_year_after_this_one_is_last_century() -> None:
    check = check_nik("3174051208270001", today=TODAY)
    assert check.ok and check.birth_date == date(1927, 8, 12)


def test_all_38_provinces_are_known() -> None:
    assert len(PROVINCE_CODES) == 38
    for code in PROVINCE_CODES:
        assert check_nik(code + "74051208850001", today=TODAY).ok


def test_mask_nik_shows_first_and_last_four() -> None:
    assert mask_nik("1310015203020003") == "1310********0003"


@pytest.mark.parametrize("value", ["131001520302000", "1310 0152 0302 0003", "13100152O3020003", ""])
def test_mask_nik_never_leaks_other_strings(value: str) -> None:
    assert mask_nik(value) == "*" * len(value)


# --- phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("81234567890", "+6281234567890"),
        ("0812 3456 789", "+628123456789"),
        ("+62 0812 3456 7890", "+6281234567890"),
        ("(0274) 512345", "+62274512345"),
        ("021-5550123", "+62215550123"),
        ("+60 12-345 6789", "+60123456789"),  # migrant worker in Malaysia
        ("+852 9123 4567", "+85291234567"),  # migrant worker in Hong Kong
    ],
)
def test_phone_forms_people_type(typed: str, e164: str) -> None:
    assert normalize_phone(typed) == e164


@pytest.mark.parametrize(
    "typed",
    ["", "12345", "0812345", "08123456789012345", "0812 FLOWERS", "bukan nomor", "+99 123 456 789"],
)
def test_invalid_phones_are_refused(typed: str) -> None:
    assert normalize_phone(typed) is None


# --- ticket numbers --------------------------------------------------------------------------


def test_ticket_number_format() -> None:
    assert format_ticket_number("SP", 2026, 42) == "SP-2026-00042"
    assert format_ticket_number("SP", 2026, 1) == "SP-2026-00001"
    assert format_ticket_number("DSK", 2027, 123456) == "DSK-2027-123456"


@pytest.mark.parametrize("seq", [1, 42, 99999, 100000, 1234567])
def test_ticket_number_round_trip(seq: int) -> None:
    number = format_ticket_number("SP", 2026, seq)
    assert parse_ticket_number(number) == number
    assert parse_ticket_number(number.lower()) == number


@pytest.mark.parametrize(
    "typed",
    [
        "sp 2026 42",
        "SP-2O26-00042",  # letter O in the year
        "SP-2026-OOO42",
        "sp2026-0042",
        "sp-2o26-00042",
        "SP 2026 00042",
        "  SP-2026-00042  ",
        "#SP-2026-00042",
        "SP.2026.42",
    ],
)
def test_ticket_number_typed_forms(typed: str) -> None:
    assert parse_ticket_number(typed) == "SP-2026-00042"


def test_ticket_number_i_and_l_read_as_one() -> None:
    assert parse_ticket_number("SP-2026-000I2") == "SP-2026-00012"
    assert parse_ticket_number("sp-2026-l1") == "SP-2026-00011"
    assert parse_ticket_number("SP-2O2I-0004L") == "SP-2021-00041"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "SP",
        "SP-2026",
        "SP-26-42",
        "SP-2026-00000",
        "2026-00042",
        "SP-2026-00042X",
        "SPKTAB-2026-1",
        "SP-0026-00042",
        "tiket saya",
    ],
)
def test_ticket_number_refused(typed: str) -> None:
    assert parse_ticket_number(typed) is None


@pytest.mark.parametrize("prefix", ["SP", "A", "DSKB", "TK"])
def test_valid_prefixes(prefix: str) -> None:
    validate_prefix(prefix)


@pytest.mark.parametrize("prefix", ["", "SOS", "LP", "SI", "ABCDE", "sp", "S1", "S-P", "É"])
def test_prefixes_with_confusable_or_bad_letters_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        validate_prefix(prefix)
    with pytest.raises(ValueError):
        format_ticket_number(prefix, 2026, 1)


# --- categories.yaml -------------------------------------------------------------------------

KEY = re.compile(r"[a-z0-9_]{1,24}")


@pytest.fixture(scope="module")
def catalogue() -> dict:
    with CATEGORIES.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _groups(catalogue: dict) -> list[dict]:
    return [*catalogue["complaint"], *catalogue["service"]]


def test_catalogue_has_both_kinds_only(catalogue: dict) -> None:
    assert set(catalogue) == {"complaint", "service"}


def test_category_keys_unique_and_well_formed(catalogue: dict) -> None:
    keys = [g["key"] for g in _groups(catalogue)] + [t["key"] for g in _groups(catalogue) for t in g["types"]]
    assert all(isinstance(k, str) and KEY.fullmatch(k) for k in keys), keys
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_category_menus_fit_whatsapp_lists(catalogue: dict) -> None:
    for kind in ("complaint", "service"):
        assert 1 <= len(catalogue[kind]) <= 10, kind
        for group in catalogue[kind]:
            assert 1 <= len(group["types"]) <= 10, group["key"]


def test_category_texts_in_both_languages_within_limits(catalogue: dict) -> None:
    for group in _groups(catalogue):
        entries = [group, *group["types"]]
        for entry in entries:
            assert set(entry["label"]) == {"id", "en"}, entry["key"]
            for text in entry["label"].values():
                assert isinstance(text, str) and 1 <= len(text) <= 24, (entry["key"], text)
            if "description" in entry:
                assert set(entry["description"]) == {"id", "en"}, entry["key"]
                for text in entry["description"].values():
                    assert isinstance(text, str) and 1 <= len(text) <= 72, (entry["key"], text)
        allowed_group = {"key", "label", "types"}
        assert set(group) <= allowed_group, group["key"]
        for item in group["types"]:
            assert set(item) <= {"key", "label", "ppks", "description"}, item["key"]


def test_every_ppks_type_offered_exactly_once(catalogue: dict) -> None:
    numbers = [t["ppks"] for g in catalogue["complaint"] for t in g["types"] if "ppks" in t]
    assert sorted(numbers) == list(range(1, 27))
    assert not [t for g in catalogue["service"] for t in g["types"] if "ppks" in t]


def test_odgj_offered_in_its_own_group(catalogue: dict) -> None:
    groups = {g["key"]: g for g in catalogue["complaint"]}
    kejiwaan = [t["key"] for t in groups["kejiwaan"]["types"]]
    assert "odgj" in kejiwaan
    assert all("ppks" not in t for t in groups["kejiwaan"]["types"])
