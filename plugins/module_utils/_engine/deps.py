# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which third-party libraries the engine needs, and which of them are missing.

Engine files import third-party libraries inside try/except so that they can be
imported (and their absence reported cleanly) where only ansible-core exists.
"""
from __future__ import annotations

import importlib.util

# import name -> pip distribution name
ACME = {"acme": "acme", "josepy": "josepy", "cryptography": "cryptography", "requests": "requests"}
CRYPTO = {"cryptography": "cryptography"}
S3 = {"boto3": "boto3", "botocore": "botocore"}
REDIS = {"redis": "redis"}
GCS = {"google.cloud.storage": "google-cloud-storage"}
DNS = {"dns": "dnspython"}


def missing(*groups: dict) -> list[str]:
    """Return the pip names of every library of the given groups that cannot be imported."""
    absent = []
    for group in groups:
        for import_name, pip_name in group.items():
            try:
                found = importlib.util.find_spec(import_name) is not None
            except ModuleNotFoundError:   # a dotted name whose parent package is missing
                found = False
            if not found and pip_name not in absent:
                absent.append(pip_name)
    return absent
