# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan and storage's answer, as the certificate role's steps pass them on (as structures or as JSON text)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  plan:
    description: The plan of M(autotls.acme.certificate_plan), as a structure; or O(plan_json).
    type: list
    elements: dict
  plan_json:
    description:
      - The plan as JSON text (RV(autotls.acme.certificate_plan#module:plan_json) of
        M(autotls.acme.certificate_plan)).
    type: str
  info:
    description: Storage's answer, as a structure (M(autotls.acme.cert_store_info)'s result); or O(info_json).
    type: dict
  info_json:
    description:
      - Storage's answer as JSON text (RV(autotls.acme.certificate_plan#module:info_json) of
        M(autotls.acme.certificate_plan)).
    type: str
'''
