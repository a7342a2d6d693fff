# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP-01 challenge files: safe token names, atomic publication, cleanup."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import ChallengeError
from .fsio import FileSpec, write_atomic

WELL_KNOWN = ".well-known/acme-challenge"
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class ChallengeFile:
    """A file the CA will fetch: http://<identifier>/<path> must return content."""
    identifier: str
    token: str
    content: str
    challenge_url: str = ""

    @property
    def path(self) -> str:
        return "%s/%s" % (WELL_KNOWN, self.token)

    def to_result(self) -> dict:
        return {"identifier": self.identifier, "path": self.path, "content": self.content,
                "token": self.token, "challenge_url": self.challenge_url}


def validate_token(token) -> str:
    """A token becomes a file name only if it is base64url (RFC 8555 section 8.3)."""
    if not isinstance(token, str) or not _BASE64URL.match(token):
        raise ChallengeError("the CA sent a challenge token that is not base64url: %r; refusing to use it as a file name"
                             % (token,), token=repr(token))
    return token


def file_path(webroot: str, token: str) -> str:
    return os.path.join(webroot, WELL_KNOWN, validate_token(token))


def publish(webroot: str, files: list) -> list:
    """Write each challenge file under webroot (readable by the web server)."""
    if not os.path.isdir(webroot):
        raise ChallengeError("webroot: %s is not a directory" % webroot, field="webroot")
    written = []
    for item in files:
        path = file_path(webroot, item.token)
        write_atomic(FileSpec(path, item.content.encode(), mode=0o644))
        written.append(path)
    return written


def remove(webroot: str, files: list) -> None:
    """Remove published challenge files; missing ones are fine."""
    for item in files:
        try:
            os.unlink(file_path(webroot, item.token))
        except FileNotFoundError:
            pass
