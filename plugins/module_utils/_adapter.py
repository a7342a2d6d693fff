# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where engine results and errors meet AnsibleModule."""
from __future__ import annotations

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.autotls.acme.plugins.module_utils._engine import deps
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError, InputError, failure_kind


def require_libraries(module, *groups) -> None:
    absent = deps.missing(*groups)
    if absent:
        module.fail_json(msg=missing_required_lib(" and ".join(absent)), missing_libraries=absent)


def run(module, action):
    """Call action(); an EngineError becomes fail_json with its structured details."""
    try:
        result = action()
    except EngineError as caught:
        error = caught
    else:
        for warning in (result or {}).pop("warnings", None) or []:
            module.warn(warning)   # shown to the operator and kept in the registered result's warnings
        return result
    # outside the except block: an expected error is not reported with a traceback (ansible-core >= 2.19
    # attaches the exception being handled to fail_json's result)
    module.fail_json(msg=error.msg, failure_kind=failure_kind(error), **error.to_result())
    return None  # not reached: fail_json exits


def check_acme_params(params) -> None:
    """The cheap checks of the ACME options, before any key is read or written."""
    from ansible_collections.autotls.acme.plugins.module_utils._engine.inputs import check_directory_url
    check_directory_url(params["acme_directory"])
    ca_bundle = params["ca_bundle"] or None  # "" means unset (roles pass variables through)
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise InputError("ca_bundle", "%s is not a readable file" % params["ca_bundle"])
    for name in ("request_timeout", "retry_timeout", "poll_timeout"):
        if params[name] is not None and params[name] <= 0:
            raise InputError(name, "must be a positive number of seconds")


def client_from_params(module, account_key):
    from ansible_collections.autotls.acme.plugins.module_utils._engine.client import AcmeClient
    params = module.params
    check_acme_params(params)
    directory = params["acme_directory"]
    ca_bundle = params["ca_bundle"] or None
    return AcmeClient(directory, account_key, ca_bundle=ca_bundle,
                      request_timeout=params["request_timeout"], retry_timeout=params["retry_timeout"],
                      poll_timeout=params["poll_timeout"])
