"""Pre-approved WhatsApp templates: which one carries a message outside the 24-hour window,
and the request that fills it.

WhatsApp refuses free-form messages more than 24 hours after the person last wrote; only a
template approved in advance may start a conversation then. An office lists its templates in
`whatsapp_templates.yaml` (see the packaged file for the fields). A template carries a short
form of the message; what it cannot carry is held and sent in full when the person writes
again (the sender queues it; `Sent.held`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from workflows.messages import OutMessage
from workflows.texts import Texts

DEFAULT_FILE = Path(__file__).resolve().parent / "whatsapp_templates.yaml"
FILE_NAME = "whatsapp_templates.yaml"
TEXT = "text"  # the parameter that is the whole message on one line
QUICK_REPLIES_MAX = 10  # WhatsApp's limit of buttons on a template

TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateSpec(_Strict):
    name: TemplateName
    params: tuple[str, ...] = (TEXT,)
    quick_replies: int = Field(default=0, ge=0, le=QUICK_REPLIES_MAX)


class TemplateBook(_Strict):
    """The office's templates: one per message kind (a template key such as
    `citizen/resolved`), and a default for every other kind."""

    language_codes: dict[str, str] = Field(default_factory=lambda: {"id": "id", "en": "en"})
    max_text_chars: int = Field(default=700, ge=60, le=1000)  # a template's body holds 1024 in all
    default: TemplateSpec
    kinds: dict[str, TemplateSpec] = Field(default_factory=dict)

    def spec(self, key: str | None) -> TemplateSpec:
        return self.kinds.get(key or "", self.default)


def load_templates(directory: Path | None) -> TemplateBook:
    """The office's file in `directory` (SATUPINTU_FLOWS_DIR) if it has one, else ours."""
    path = directory / FILE_NAME if directory is not None and (directory / FILE_NAME).exists() else DEFAULT_FILE
    with path.open(encoding="utf-8") as fh:
        return TemplateBook.model_validate(yaml.safe_load(fh))


@dataclass(frozen=True)
class TemplateRequest:
    """The `template` object of a send request, its name, and whether the template left part
    of the message out (to be sent in full once the person writes)."""

    template: dict[str, Any]
    name: str
    held: bool


_SPACES = re.compile(r"[ \t]+")


def checked_templates(directory: Path | None, texts: Texts) -> TemplateBook:
    """The office's WhatsApp templates, each named for a kind of message that exists; a name
    that is not stops start-up."""
    book = load_templates(directory)
    unknown = sorted(key for key in book.kinds if not texts.has(key, "id"))
    if unknown:
        raise ValueError(f"whatsapp_templates.yaml names messages that do not exist: {', '.join(unknown)}")
    return book


def one_line(text: str) -> str:
    """A template parameter may hold no line breaks, tabs or runs of spaces: lines are joined."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return " · ".join(line for line in lines if line)


def shorten(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut at a word to fit `limit`, ending in "…"; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip(" ·") + "…", True


def template_for(book: TemplateBook, message: OutMessage) -> TemplateRequest:
    """Fill the template chosen for `message`'s kind, in the reader's language."""
    spec = book.spec(message.key)
    text, cut = shorten(one_line(message.text), book.max_text_chars)
    values = {**message.params, TEXT: text}
    parameters = [{"type": "text", "text": one_line(values.get(name, "")) or "-"} for name in spec.params]
    components: list[dict[str, Any]] = [{"type": "body", "parameters": parameters}] if parameters else []
    carried = message.options[: spec.quick_replies]
    for index, option in enumerate(carried):
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": f"{message.step or ''}|{option.value}"}],
            }
        )
    held = cut or len(carried) < len(message.options) or message.photo is not None or message.request is not None
    language = book.language_codes.get(message.language, next(iter(book.language_codes.values())))
    template = {"name": spec.name, "language": {"code": language}, "components": components}
    return TemplateRequest(template=template, name=spec.name, held=held)
