# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate role's comparison on each host: are the deployed copies those storage holds?

One entry per deployable certificate (its directory and the SHA-256 storage has for each file), made here from the
plan step's JSON text and this host's deploy directory, then cert_deploy's compare_only: in the controller's own
process for a local connection, else the cert_deploy module on the host."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.autotls.acme.plugins.filter import certificate_role as role
from ansible_collections.autotls.acme.plugins.plugin_utils import compare, role_state


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("plan", "plan_json", "info", "info_json", "deploy_dir", "owner", "group", "mode",
                             "key_mode", "verify_address"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        if not args.get("deploy_dir"):
            result.update(failed=True, msg="deploy_dir: is required (this host's deploy directory)")
            return result
        plan = role_state.decode(args, "plan", [])
        info = role_state.decode(args, "info", {})
        entries = role.certificate_deploy_compare(role.certificate_deployable(plan, info), args.get("deploy_dir"),
                                                  info)
        module_args = {"compare_only": True, "certificates": entries}
        module_args.update((key, args[key]) for key in ("owner", "group", "mode", "key_mode") if key in args)
        result.update(compare.compare(self, module_args, task_vars))
        result.pop("invocation", None)   # thousands of entries that nobody reads
        if args.get("verify_address"):   # as this host's own variables say, for the one TLS check of every host
            result["verify_address"] = args["verify_address"]
        return result
