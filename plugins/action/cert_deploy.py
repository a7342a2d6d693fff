# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of cert_deploy: read each src on the control node, ship contents in one module call.

A comparison (compare_only) on a host reached with the local connection, without become, runs here, in the
controller's own process: the files are on this machine and readable by this user, so the module (a new Python
process, its imports and Ansible's module code) would cost a renewal run with nothing to do far more than the
comparison itself. The comparison is the module's own (module_utils/_engine/deployed.py), its options checked
against the module's own argument spec."""
from __future__ import annotations

import base64

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.autotls.acme.plugins.module_utils._argspec import deploy_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import deployed, fsio
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError, failure_kind

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local", "ansible.legacy.local")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files", "certificates", "owner", "group", "mode", "key_mode", "compare_only",
                             "follow_symlinks"))

    def _compares_here(self, args) -> bool:
        """A comparison on this very machine, as this very user: no module process needed."""
        transport = getattr(self._connection, "transport", None) or getattr(self._connection, "_load_name", "")
        return bool(args.get("compare_only")) and transport in LOCAL_CONNECTIONS and not self._play_context.become

    def _compare_here(self, args) -> dict:
        validated = ArgumentSpecValidator(deploy_argument_spec()).validate(args)
        if validated.error_messages:
            return {"failed": True, "msg": "; ".join(validated.error_messages)}
        params = validated.validated_parameters
        try:
            deployed.check(params)
            return deployed.compare(params, fsio.uid_of(params["owner"]), fsio.gid_of(params["group"]))
        except EngineError as error:
            return dict(error.to_result(), failed=True, msg=error.msg, failure_kind=failure_kind(error))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if self._compares_here(args):
            result.update(self._compare_here(args))
            return result
        files = []
        for index, item in enumerate(args.get("files") or []):
            if not isinstance(item, dict) or "dest" not in item:
                raise AnsibleActionFail("files[%d]: needs dest" % index)
            shipped = {key: value for key, value in item.items() if key not in ("src", "srcs", "text")}
            if item.get("state", "present") == "absent" or args.get("compare_only"):
                files.append(shipped)
                continue
            if "src" in item or "srcs" in item:
                sources = [item["src"]] if "src" in item else list(item["srcs"] or [])
                content = b""
                for source in sources:   # srcs: concatenated in order (HAProxy's key + full chain in one PEM)
                    try:
                        with open(source, "rb") as handle:
                            content += handle.read()
                    except OSError as exc:
                        raise AnsibleActionFail("files[%d].%s: cannot read %s: %s" % (
                            index, "src" if "src" in item else "srcs", source, exc.strerror)) from None
            elif "text" in item:
                content = str(item["text"]).encode()
            else:
                raise AnsibleActionFail("files[%d]: needs src or srcs (files on the control node) or text" % index)
            shipped["content"] = base64.b64encode(content).decode()
            files.append(shipped)
        if "files" in args:
            args["files"] = files
        result.update(self._execute_module(module_name="autotls.acme.cert_deploy", module_args=args,
                                           task_vars=task_vars))
        return result
