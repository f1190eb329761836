"""Renders message templates in the reader's language.

One file per message and language (`templates/<key>.<lang>.j2`) so translators work file by
file; button words live in `templates/buttons.<lang>.j2` as `{% set %}` lines. StrictUndefined
turns a missing variable into an error at test time instead of a blank in a citizen's chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflows.engine.effects import Option, Say
from workflows.messages import OutMessage, RenderedOption

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
# Parsed once: babel given a locale's name loads and merges its data again on every date
# (~0.3 ms, against 5 us with the Locale), and a status list formats a date per ticket.
_LOCALES = {language: Locale.parse(language) for language in LANGUAGES}


PARAM_CHARS = 100  # longer values (a question, a resolution) reach a template through the text itself


def template_params(context: Mapping[str, Any]) -> dict[str, str]:
    """The short plain values of a message's context (a ticket number, a date), kept with the
    message so that a channel's pre-approved template can name them."""
    return {
        name: str(value)
        for name, value in context.items()
        if isinstance(value, (str, int)) and not isinstance(value, bool) and len(str(value)) <= PARAM_CHARS
    }


class Texts:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.directory = directory
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # templates change with a deploy, not while serving: no stat per message
        )
        self._buttons = {lang: self.env.get_template(f"buttons.{lang}.j2").module for lang in LANGUAGES}

    @staticmethod
    def long_date(value: date, language: str) -> str:
        """Dates as people say them, in their language: "Senin, 24 November 2026"."""
        return format_date(value, format="full", locale=_LOCALES.get(language, _LOCALES[DEFAULT_LANGUAGE]))

    @classmethod
    def long_moment(cls, value: datetime, zone: tzinfo, language: str) -> str:
        """A date and a time of day, for deadlines counted in hours: "Sabtu, 5 Desember 2026 00.30"."""
        local = value.astimezone(zone)
        clock = f"{local:%H.%M}" if language == DEFAULT_LANGUAGE else f"{local:%H:%M}"
        return f"{cls.long_date(local.date(), language)} {clock}"

    def keys(self) -> list[str]:
        """Every chat message key (for the test that renders them all in every language);
        `web/` and `console/` hold pages, not messages."""
        found = {
            str(p.relative_to(self.directory)).rsplit(".", 2)[0]
            for p in self.directory.rglob("*.j2")
            if "/" in str(p.relative_to(self.directory))
            and not p.name.startswith("_")
            and not str(p.relative_to(self.directory)).startswith(("web/", "console/"))
        }
        return sorted(found)

    def has(self, key: str, language: str) -> bool:
        return (self.directory / f"{key}.{language}.j2").exists()

    def render(self, key: str, language: str, context: Mapping[str, Any] | None = None) -> str:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        template = self.env.get_template(f"{key}.{language}.j2")
        return template.render(lang=language, **(context or {})).strip()

    def button(self, name: str, language: str) -> str:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        return str(getattr(self._buttons[language], name))

    def option(self, option: Option, language: str) -> RenderedOption:
        if option.label_key is not None:
            title = self.button(option.label_key, language)
        else:
            labels = option.label or {}
            title = labels.get(language) or labels.get(DEFAULT_LANGUAGE) or option.value
        description = None
        if option.description:
            description = option.description.get(language) or option.description.get(DEFAULT_LANGUAGE)
        return RenderedOption(option.value, title, description)

    def message(self, say: Say, language: str, extra: Mapping[str, Any] | None = None) -> OutMessage:
        """A `Say` made into the text and buttons one person will read."""
        text = self.render(say.key, language, {**say.context, **(extra or {})})
        request_label = None
        if say.request is not None:
            request_label = self.button(f"send_{say.request}", language)
        return OutMessage(
            text=text,
            options=tuple(self.option(o, language) for o in say.options),
            step=say.step,
            request=say.request,
            request_label=request_label,
            photo=say.photo,
            key=say.key,
            params=template_params(say.context),
            language=language if language in LANGUAGES else DEFAULT_LANGUAGE,
        )
