# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of cert_deploy: read each src on the control node, ship contents in one module call.

A comparison (compare_only) on a host reached with the local connection, without become, runs in the controller's
own process (plugin_utils/compare.py)."""
from __future__ import annotations

import base64

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.autotls.acme.plugins.plugin_utils import compare


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files", "certificates", "owner", "group", "mode", "key_mode", "compare_only",
                             "follow_symlinks"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if compare.compares_here(self, args):
            result.update(compare.compare_here(args))
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
