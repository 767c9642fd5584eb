"""Text that came from a payload, made storable."""

from __future__ import annotations

import re

_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """What no database text column can hold, replaced by U+FFFD: NUL (PostgreSQL) and lone surrogates (JSON's
    "\\ud800" decodes to one; UTF-8 cannot encode it). Every string that comes from a payload goes through here."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text
