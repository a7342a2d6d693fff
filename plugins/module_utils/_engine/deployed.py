# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host's deployed copies are current: cert_deploy's compare_only, on the host (the module) or, for a
local connection, in the controller's own process (its action plugin). Reads files; never writes."""
from __future__ import annotations

import hashlib
import os

from . import fsio
from .errors import InputError


def is_concatenation(content: bytes, digests: list) -> bool:
    """Is content the parts with these SHA-256 digests, one after the other? (parts end at line ends)"""
    if not digests:
        return not content
    ends = [index + 1 for index, byte in enumerate(content) if byte == 0x0A] + [len(content)]
    for end in ends:
        if hashlib.sha256(content[:end]).hexdigest() == digests[0]:
            return is_concatenation(content[end:], digests[1:])
    return False


def stale(path: str, sha256: str | None, mode: int, owner: int | None, group: int | None,
          parts: list | None = None) -> bool:
    """Whether the file at path is missing or differs from what it must be: its content known by its SHA-256,
    or (parts) by the SHA-256 of each part it concatenates."""
    def matches(content: bytes) -> bool:
        if parts:
            return is_concatenation(content, [digest or "" for digest in parts])
        return hashlib.sha256(content).hexdigest() == (sha256 or "")
    return fsio.needs_write(fsio.FileSpec(path, b"", mode, owner=owner, group=group), matches)


def certificate_files(certificates: list) -> list:
    """The entries of O(certificates) as the file entries of O(files) they stand for (dest, group, key, sha256 or
    sha256_parts, no mode of their own)."""
    files: list = []
    for index, cert in enumerate(certificates):
        where = "certificates[%d]" % index
        if not os.path.isabs(cert["dir"]):
            raise InputError(where + ".dir", "must be an absolute path, got %r" % cert["dir"])
        paths = cert["paths"] or {}
        unknown = sorted(set(paths) - set(cert["sha256"]))
        if unknown:
            raise InputError(where + ".paths", "names files that sha256 does not: %s" % ", ".join(unknown))
        for filename, digest in cert["sha256"].items():
            dest = paths.get(filename) or os.path.join(cert["dir"], filename)
            if filename != os.path.basename(filename) or not filename or not os.path.isabs(dest):
                raise InputError(where + ".sha256", "%r is not a file name in dir (or a path in paths)" % filename)
            files.append({"dest": dest, "group": cert["name"], "key": filename == cert["key"], "mode": None,
                          "sha256": str(digest or ""), "sha256_parts": None})
        if cert["combined"]:
            missing = [part for part in cert["combined_parts"] if part not in cert["sha256"]]
            if missing:
                raise InputError(where + ".combined_parts", "names files that sha256 does not: %s"
                                 % ", ".join(missing))
            files.append({"dest": cert["combined"], "group": cert["name"], "key": True, "mode": None, "sha256": None,
                          "sha256_parts": [str(cert["sha256"][part] or "") for part in cert["combined_parts"]]})
    return files


def compare(params: dict, owner: int | None, group: int | None) -> dict:
    """compare_only: which groups (certificates) have a file that is missing or differs, and which have none yet.
    params are cert_deploy's (validated); its certificates, if given, stand for their file entries."""
    files = certificate_files(params["certificates"]) if params["certificates"] is not None else params["files"]
    stale_names, present = [], set()
    for index, item in enumerate(files or []):
        name = item["group"] or item["dest"]
        mode = fsio.mode_of(item["mode"] or (params["key_mode"] if item["key"] else params["mode"]),
                            "files[%d].mode" % index)
        if os.path.lexists(item["dest"]):
            present.add(name)
        if name not in stale_names and stale(item["dest"], item["sha256"], mode, owner, group, item["sha256_parts"]):
            stale_names.append(name)
    return {"changed": False, "changed_files": [], "changed_groups": [], "stale_groups": stale_names,
            "missing_groups": [name for name in stale_names if name not in present]}


def check(params: dict) -> None:
    """Every input before anything is written: paths absolute and free of untrusted symlinks, modes valid,
    keys never readable by others."""
    fsio.mode_of(params["mode"], "mode")
    if fsio.mode_of(params["key_mode"], "key_mode") & 0o007:
        raise InputError("key_mode", "%s would make private keys readable by others" % params["key_mode"])
    if params["certificates"] is not None:
        if not params["compare_only"]:
            raise InputError("certificates", "only with compare_only=true (files deploys)")
        if params["files"]:
            raise InputError("certificates", "give files or certificates, not both")
    elif params["files"] is None:
        raise InputError("files", "one of files or certificates is required")
    for index, item in enumerate(params["files"] or []):
        where = "files[%d]" % index
        if not os.path.isabs(item["dest"]):
            raise InputError(where + ".dest", "must be an absolute path, got %r" % item["dest"])
        if item["mode"] is not None:
            mode = fsio.mode_of(item["mode"], where + ".mode")
            if item["key"] and mode & 0o007:
                raise InputError(where + ".mode", "%s would make a private key readable by others" % item["mode"])
        if not params["compare_only"]:
            fsio.check_no_symlinks(item["dest"], where + ".dest", params["follow_symlinks"])
