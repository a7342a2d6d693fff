# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cheap input checks made before anything else (the ACME directory URL, contact addresses); they need no ACME
library, so checking a role's inputs does not import one."""
from __future__ import annotations

import re
import urllib.parse

from .errors import InputError

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def check_directory_url(url: object, field: str = "acme_directory") -> str:
    """Cheap, before anything: an https:// URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(field, "is required (the ACME directory URL)")
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme != "https":
        raise InputError(field, "must be an https:// URL, got %r" % url)
    if not parts.hostname:
        raise InputError(field, "%r has no host" % url)
    return url.strip()


def validate_contacts(contacts: str | list | tuple | None, field: str = "contact",
                      required: bool = True) -> list[str]:
    """Return contacts as mailto: URIs, or raise InputError naming the field."""
    if contacts is None or (isinstance(contacts, (list, tuple)) and not contacts):
        if required:
            raise InputError(field, "at least one contact email address is required")
        return []
    if isinstance(contacts, str):
        contacts = [contacts]
    result = []
    for raw in contacts:
        value = raw.strip() if isinstance(raw, str) else ""
        address = value[len("mailto:"):] if value.lower().startswith("mailto:") else value
        if not address:
            raise InputError(field, "a contact email address is empty")
        if not _EMAIL.match(address) or len(address) > 254:
            raise InputError(field, "%r is not a valid email address" % raw)
        result.append("mailto:" + address)
    return result
