# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cert_deploy's comparison (compare_only) for the action plugins that run it.

On a host reached with the local connection, without become, it runs in the controller's own process: the files
are on this machine and readable by this user, so a module (a new Python process, its imports and Ansible's module
code) would cost a run with nothing to do far more than the comparison itself. It is the module's own comparison
(module_utils/_engine/deployed.py), its options checked against the module's own argument spec. On other hosts
the module runs there.
"""
from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.autotls.acme.plugins.module_utils._argspec import deploy_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import deployed, fsio
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError, failure_kind

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local", "ansible.legacy.local")


def is_local(action) -> bool:
    """Whether the action's host is this very machine (the local connection)."""
    connection = action._connection
    return (getattr(connection, "transport", None) or getattr(connection, "_load_name", "")) in LOCAL_CONNECTIONS


def compares_here(action, args: dict) -> bool:
    """A comparison on this very machine (local connection), as this very user (no become): no module needed."""
    return bool(args.get("compare_only")) and is_local(action) and not action._play_context.become


def compare_here(args: dict) -> dict:
    """cert_deploy's compare_only, in this process: the module's own argument spec and comparison."""
    validated = ArgumentSpecValidator(deploy_argument_spec()).validate(args)
    if validated.error_messages:
        return {"failed": True, "msg": "; ".join(validated.error_messages)}
    params = validated.validated_parameters
    try:
        deployed.check(params)
        return deployed.compare(params, fsio.uid_of(params["owner"]), fsio.gid_of(params["group"]))
    except EngineError as error:
        return dict(error.to_result(), failed=True, msg=error.msg, failure_kind=failure_kind(error))


def compare(action, args: dict, task_vars) -> dict:
    """cert_deploy compare_only on the task's host: here for a local connection, else the module on the host."""
    if compares_here(action, args):
        return compare_here(args)
    return action._execute_module(module_name="autotls.acme.cert_deploy", module_args=args, task_vars=task_vars)
