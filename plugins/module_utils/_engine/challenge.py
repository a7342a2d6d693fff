# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Challenge material: HTTP-01 token files (safe names, atomic publication, cleanup) and DNS-01 TXT records."""
from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass

from .errors import ChallengeError, InputError
from .fsio import FileSpec, check_no_symlinks, write_atomic

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


@dataclass
class ChallengeRecord:
    """A TXT record the CA will look up (DNS-01): name must have a TXT value equal to value.

    A wildcard and its base name (*.example.com, example.com) have the same name, each with its own value.
    """
    identifier: str         # as the certificate names it: example.com or *.example.com
    name: str               # _acme-challenge.example.com
    value: str              # base64url(SHA-256(key authorization))
    token: str
    challenge_url: str = ""

    def to_result(self) -> dict:
        return {"identifier": self.identifier, "name": self.name, "type": "TXT", "value": self.value,
                "token": self.token, "challenge_url": self.challenge_url}


def dns01_name(domain: str) -> str:
    return "_acme-challenge." + domain.lower().rstrip(".")


def dns01_value(key_authorization: str) -> str:
    """RFC 8555 section 8.4: the base64url SHA-256 digest of the key authorization, without padding."""
    digest = hashlib.sha256(key_authorization.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def validate_token(token: object) -> str:
    """A token becomes a file name only if it is base64url (RFC 8555 section 8.3)."""
    if not isinstance(token, str) or not _BASE64URL.match(token):
        raise ChallengeError("the CA sent a challenge token that is not base64url: %r; refusing to use it as a file "
                             "name" % (token,), token=repr(token))
    return token


def file_path(webroot: str, token: str) -> str:
    return os.path.join(webroot, WELL_KNOWN, validate_token(token))


def check_webroot(webroot: object, field: str = "webroot", follow_symlinks: bool = False) -> str:
    """Before anything is ordered: webroot exists, is a directory we can write, and no untrusted symlink
    (webroot itself, .well-known, acme-challenge) would redirect the challenge files elsewhere."""
    if not isinstance(webroot, str) or not webroot.strip():
        raise InputError(field, "must be the path of a directory, got %r" % (webroot,))
    if not os.path.isabs(webroot):
        raise InputError(field, "must be an absolute path, got %r" % webroot)
    check_no_symlinks(os.path.join(webroot, WELL_KNOWN), field, follow_symlinks)
    if not os.path.exists(webroot):
        raise InputError(field, "%s does not exist" % webroot)
    if not os.path.isdir(webroot):
        raise InputError(field, "%s is not a directory" % webroot)
    challenge_dir = os.path.join(webroot, WELL_KNOWN)
    for directory in (challenge_dir, os.path.dirname(challenge_dir), webroot):
        if os.path.lexists(directory):
            if not os.path.isdir(directory):
                raise InputError(field, "%s is not a directory" % directory)
            if not os.access(directory, os.W_OK | os.X_OK):
                raise InputError(field, "%s is not writable by this user" % directory)
            break
    return webroot


def publish(webroot: str, files: list, follow_symlinks: bool = False) -> list:
    """Write each challenge file under webroot (readable by the web server)."""
    check_webroot(webroot, follow_symlinks=follow_symlinks)
    written = []
    for item in files:
        path = file_path(webroot, item.token)
        write_atomic(FileSpec(path, item.content.encode(), mode=0o644), follow_symlinks=follow_symlinks)
        written.append(path)
    return written


def remove(webroot: str, files: list[ChallengeFile]) -> None:
    """Remove published challenge files; missing ones (or a webroot that is gone) are fine: cleanup never hides
    the error that made it necessary."""
    for item in files:
        try:
            os.unlink(file_path(webroot, item.token))
        except OSError:
            pass
