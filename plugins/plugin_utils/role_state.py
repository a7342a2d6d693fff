# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the certificate role's controller-side steps share.

The plan step returns its plan and storage's answer as JSON text: Ansible passes one string from task to task at
no cost, where a structure of thousands of dicts is copied, tagged and walked by the templating engine in every
task that names it. The steps that need them (the comparison, the report) decode them here; the role's other
tasks decode them through the role's variables, only on runs that have something to do.
"""
from __future__ import annotations

import json

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.autotls.acme.plugins.module_utils._argspec import store_info_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import lookup
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError, failure_kind


def encode(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def decode(args: dict, name: str, default=None):
    """The option `name` given as a structure, else `name`_json given as JSON text, else default."""
    if args.get(name) not in (None, "", {}, []):
        return args[name]
    text = args.get(name + "_json")
    if not text:
        return default
    if isinstance(text, (list, dict)):   # ansible-core < 2.19 turns a template's JSON-looking text into data
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AnsibleActionFail("%s_json: not JSON (%s)" % (name, exc)) from None


def look_up(storage, acme_directory, plan, check_mode=False, **options) -> dict:
    """cert_store_info's lookup of the planned certificates, in this process, with cert_store_info's own option
    checks; a failure is a result with failed and msg (and the engine's structured details)."""
    params = dict(storage or {}, names=[cert["name"] for cert in plan], acme_directory=acme_directory, **options)
    validated = ArgumentSpecValidator(store_info_argument_spec()).validate(
        {key: value for key, value in params.items() if value is not None})
    if validated.error_messages:
        return {"failed": True, "msg": "certificate_storage: " + "; ".join(validated.error_messages)}
    params = validated.validated_parameters
    absent = lookup.missing_libraries(params)
    if absent:
        return {"failed": True, "missing_libraries": absent,
                "msg": "the control node's Python lacks %s (pip install %s), needed to read storage"
                       % (" and ".join(absent), " ".join(absent))}
    try:
        return lookup.look_up(params, check_mode=check_mode)
    except EngineError as error:
        return dict(error.to_result(), failed=True, msg=error.msg, failure_kind=failure_kind(error))
