"""The registry reads each channel's own variables, lets each check them, and refuses two
channels with one name: a deployment's mistake stops start-up, naming what to fix."""

from __future__ import annotations

import dataclasses

import pytest

from bot.channels import registry, telegram, whatsapp
from bot.settings import Settings
from tests.support import echo_channel


def test_each_channel_reads_its_own_variables() -> None:
    settings = registry.load_settings({"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_RATE_GLOBAL": "20"})
    assert (settings.telegram_bot_token, settings.telegram_rate_global) == ("123:abc", 20.0)
    assert [spec.name for spec in registry.switched_on(settings)] == ["telegram", "web"]
    assert registry.send_limits(registry.switched_on(settings), settings)["telegram"].overall.per_second == 20.0  # type: ignore[union-attr]


def test_a_half_set_channel_stops_start_up_naming_what_is_missing() -> None:
    with pytest.raises(ValueError, match="WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN"):
        registry.load_settings({"WHATSAPP_ACCESS_TOKEN": "t", "WHATSAPP_PHONE_NUMBER_ID": "1"})
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        registry.load_settings(
            {"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_URL": "https://example.org/telegram/webhook"}
        )


def test_two_channels_with_one_name_are_refused() -> None:
    twin = dataclasses.replace(echo_channel.SPEC, name=telegram.CHANNEL)
    with pytest.raises(ValueError, match="telegram"):
        registry.switched_on(Settings(), (twin,))


def test_a_channel_that_is_off_gets_no_sending_slots() -> None:
    assert registry.send_limits(registry.switched_on(Settings()), Settings()) == {}
    assert whatsapp.SPEC.enabled(Settings()) is False
