# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate role's report, in the controller's own process: each certificate's status, the JSON status
file, the Prometheus textfile, the webhook for every alert, the summary, and a failure when anything needs
attention. One task on every run, whatever happened before it."""
from __future__ import annotations

import json
import os
import tempfile

from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase

from ansible_collections.autotls.acme.plugins.filter import certificate_role as role
from ansible_collections.autotls.acme.plugins.plugin_utils import role_state

WEBHOOK_OK = (200, 201, 202, 204)
WEBHOOK_TIMEOUT = 10


def write_report_file(path: str, text: str) -> None:
    """Replace path with text (0644) in one step: a reader sees the old report or the new one, never a part; a
    symlink at path is replaced, not followed."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def webhook_body(item: dict) -> dict:
    return {"certificate": item["name"], "identifiers": item["identifiers"], "action": item["action"],
            "error": item["why"] if item["action"] == "failed" or "serving_mismatch" in item else None,
            "days_left": item["days_left"], "not_after": item["not_after"],
            "consecutive_failures": item["consecutive_failures"],
            "serving_mismatch": item.get("serving_mismatch") or []}


def post_alert(url: str, item: dict) -> str | None:
    """POST one alert; None when the webhook took it, else why not."""
    try:
        response = open_url(url, data=json.dumps(webhook_body(item)), method="POST", timeout=WEBHOOK_TIMEOUT,
                            headers={"Content-Type": "application/json"}, validate_certs=True)
        status = response.getcode()
    except Exception as exc:   # HTTPError, URLError, timeouts, TLS: reported, never raised
        status = getattr(exc, "code", None)
        if status in WEBHOOK_OK:
            return None
        return "%s: %s" % (item["name"], exc)
    return None if status in WEBHOOK_OK else "%s: HTTP status %s" % (item["name"], status)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("info", "info_json", "plan", "plan_json", "orders", "issued", "alert_days", "would_order",
                             "elsewhere", "serving", "reasons", "errors", "lost_hosts", "status_file", "metrics_file",
                             "webhook_url", "acme_directory", "reread", "storage", "pending_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        try:   # a number, also when given as text (-e certificate_alert_days=20 on the command line)
            alert_days = float(args.get("alert_days") or 0) or None
        except (TypeError, ValueError):
            result.update(failed=True, msg="alert_days: must be a number of days, got %r" % (args.get("alert_days"),))
            return result
        plan, info = role_state.decode(args, "plan", []), role_state.decode(args, "info", {})
        warnings = []
        if args.get("reread"):   # this run ordered (or another run renewed meanwhile): report storage as it is now
            final = role_state.look_up(args.get("storage"), args.get("acme_directory"), plan,
                                       pending_dir=args.get("pending_dir") or None)
            if final.get("failed"):   # storage may be what failed: the report is written from what is known
                warnings.append("storage could not be read again for the report: %s" % final.get("msg"))
            else:
                info = final
        status = role.certificate_status(
            info, plan, args.get("orders") or {}, args.get("issued") or {},
            alert_days=alert_days, would_order=args.get("would_order") or [],
            elsewhere=args.get("elsewhere") or [], serving=args.get("serving") or [],
            reasons=args.get("reasons") or {}, errors=args.get("errors") or [],
            lost_hosts=args.get("lost_hosts") or [])
        check_mode = bool(self._play_context.check_mode)
        problems = []
        report = {"certificates": status, "acme_directory": args.get("acme_directory")}
        files = {"status_file": lambda: json.dumps(report, indent=4, sort_keys=True) + "\n",
                 "metrics_file": lambda: role.certificate_prometheus(status)}
        for option, render in files.items():
            if args.get(option) and not check_mode:
                try:
                    write_report_file(args[option], render())
                except OSError as exc:
                    problems.append("certificate_%s: cannot write %s: %s" % (option, args[option], exc.strerror))
        alerts = [item for item in status if item["alert"]]
        if args.get("webhook_url") and not check_mode:
            failures = [why for why in (post_alert(args["webhook_url"], item) for item in alerts) if why]
            if failures:
                warnings.append("webhook %s failed: %s" % (args["webhook_url"], "; ".join(failures)))
        summary = role.certificate_summary(status)
        result.update(changed=False, summary=summary, alerts=[item["name"] for item in alerts])
        if warnings:
            result["warnings"] = warnings
        if alerts:
            problems.insert(0, "%s: %s" % (", ".join(item["name"] for item in alerts),
                                           "; ".join(item["why"] for item in alerts)))
        if problems:
            result.update(failed=True, msg="; ".join(problems))
        else:
            result["msg"] = summary
            result["_ansible_verbose_always"] = True   # the summary is shown as a debug task's would be
        return result
