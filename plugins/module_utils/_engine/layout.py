# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files of a certificate bundle, named once.

Each part (the stem of the modules' <part>_path / <part>_content options) has one file
name, used in storage (versions/.../<file>), in the role's staging directory and as the
default deployed name (<deploy dir>/<name>/<file>). The role calls a file by its kind,
the file name without ".pem" (privkey, cert, chain, fullchain).
"""
from __future__ import annotations

# (part, file name), in the order bundles are written and files are deployed
FILES = (("private_key", "privkey.pem"), ("certificate", "cert.pem"), ("chain", "chain.pem"),
         ("fullchain", "fullchain.pem"))
PARTS = tuple(part for part, _filename in FILES)
FILE_OF = dict(FILES)
FILE_NAMES = tuple(filename for _part, filename in FILES)
KEY_PART = "private_key"
KEY_FILE = FILE_OF[KEY_PART]


def kind_of(part: str) -> str:
    """The role's short name of a part: its file name without '.pem' (privkey, cert, chain, fullchain)."""
    return FILE_OF[part][:-len(".pem")]


KINDS = tuple(kind_of(part) for part in PARTS)
PART_OF_KIND = {kind_of(part): part for part in PARTS}
FILE_OF_KIND = {kind_of(part): FILE_OF[part] for part in PARTS}
