# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate role's first step, in the controller's own process: check every input, plan every certificate,
look storage up and decide which certificates are due.

The same checks, plan and due decision as the role's filters (they are called here), and the same storage lookup
as cert_store_info (module_utils/_engine/lookup.py), in one task and without a module process: a renewal run with
nothing to do pays for one Python call, not for a module start and the templating of N-sized results per step."""
from __future__ import annotations

import secrets
import string

from ansible.plugins.action import ActionBase

from ansible_collections.autotls.acme.plugins.filter import certificate_role as role
from ansible_collections.autotls.acme.plugins.plugin_utils import compare, role_state

SETTINGS = ("acme_directory", "ca_bundle", "storage", "lock_ttl", "lock_timeout", "eab", "renew_before_days",
            "concurrency", "webroot", "deploy_dir", "key_mode", "cert_mode", "alert_days", "verify_port")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset((
        "certificate_list", "contact_email", "services", "service_commands", "challenge", "dns", "max_identifiers",
        "revoke", "key_type", "verify", "profile", "force", "retry_now", "ari", "staging_base", "pending_dir",
        "lookup") + SETTINGS)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        result["changed"] = False
        certificates = args.get("certificate_list") or []
        if not certificates:
            result.update(failed=True, msg=(
                "certificate_list is empty for %s: this run manages no certificate. Set certificate_list in the "
                "inventory (for the hosts certificate_hosts selects) or in the role's vars."
                % (task_vars or {}).get("inventory_hostname")))
            return result
        if not compare.is_local(self):
            # staging files, storage reads and the report are the ansible-playbook process's own work
            result.update(failed=True, msg=(
                "certificate_control_node: must be the machine that runs ansible-playbook (reached with the local "
                "connection), got %s" % (self._task.delegate_to or (task_vars or {}).get("inventory_hostname"))))
            return result
        settings = {"certificate_" + name: args.get(name) for name in SETTINGS}
        errors = role.certificate_request_errors(
            certificates, args.get("contact_email"), args.get("services"), args.get("service_commands"),
            args.get("challenge"), args.get("dns"), max_identifiers=args.get("max_identifiers"), settings=settings)
        errors += role.certificate_revoke_errors(args.get("revoke") or [], certificates)
        if errors:
            result.update(failed=True, msg="; ".join(errors), errors=errors)
            return result
        staging_dir = "%s/autotls-%s" % (str(args.get("staging_base") or "/tmp").rstrip("/"), "".join(
            secrets.choice(string.ascii_lowercase + string.digits) for dummy in range(16)))
        plan = role.certificate_plan(
            certificates, staging_dir, key_type=args.get("key_type"), services=args.get("services"),
            verify=args.get("verify"), verify_port=args.get("verify_port"),
            renew_before_days=args.get("renew_before_days"), profile=args.get("profile"),
            challenge=args.get("challenge"), max_identifiers=args.get("max_identifiers"))
        # the plan and storage's answer travel as JSON text (plugin_utils/role_state.py): cheap to pass on
        result.update(plan_json=role_state.encode(plan), staging_dir=staging_dir, count=len(plan),
                      verify=any(cert["verify"] for cert in plan))
        if not args.get("lookup", True):
            return result
        info = role_state.look_up(
            args.get("storage"), args.get("acme_directory"), plan, check_mode=bool(self._play_context.check_mode),
            requests=role.certificate_info_requests(plan), max_identifiers=args.get("max_identifiers"),
            ari=bool(args.get("ari")) and str(args.get("acme_directory") or "").startswith("https://"),
            ca_bundle=args.get("ca_bundle") or None, pending_dir=args.get("pending_dir") or None,
            staging_base=args.get("staging_base"), staging_max_age=args.get("lock_ttl"))
        if info.get("failed"):
            result.update(info)
            return result
        for warning in info.pop("warnings", None) or []:
            result.setdefault("warnings", []).append(warning)
        reasons = role.certificate_due_reasons(plan, info, args.get("force"), retry_now=args.get("retry_now"))
        result.update(info_json=role_state.encode(info), due=list(reasons), due_reasons=reasons,
                      quiet=not reasons and not args.get("revoke") and not info.get("owed")
                      and not info.get("staging_stale"))
        return result
