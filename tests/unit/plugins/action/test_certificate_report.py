"""The report step's own parts: files replaced in one step (never through a symlink), the webhook's answers."""
import http.server
import json
import os
import stat
import threading

import pytest

from ansible_collections.autotls.acme.plugins.action import certificate_report as report

ITEM = {"name": "www", "identifiers": ["www.example.com"], "action": "failed", "why": "could not validate",
        "days_left": 12.5, "not_after": "2027-01-01T00:00:00Z", "consecutive_failures": 2}


def test_a_report_file_is_replaced_whole_with_mode_0644_and_a_symlink_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("not mine\n")
    path = tmp_path / "status.json"
    os.symlink(target, path)
    report.write_report_file(str(path), '{"certificates": []}\n')
    assert not os.path.islink(path) and path.read_text() == '{"certificates": []}\n'
    assert target.read_text() == "not mine\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["elsewhere", "status.json"]   # no temporary file left


def test_a_report_file_in_a_missing_directory_fails_and_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        report.write_report_file(str(tmp_path / "missing" / "status.json"), "{}")
    assert os.listdir(tmp_path) == []


class Hook(http.server.BaseHTTPRequestHandler):
    status = 204
    bodies = []

    def do_POST(self):
        Hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(Hook.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    Hook.bodies = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/hook" % server.server_address[1]
    server.shutdown()


def test_the_webhook_gets_one_json_alert_and_its_refusal_is_reported(hook):
    Hook.status = 204
    assert report.post_alert(hook, ITEM) is None
    assert Hook.bodies == [{"certificate": "www", "identifiers": ["www.example.com"], "action": "failed",
                            "error": "could not validate", "days_left": 12.5, "not_after": "2027-01-01T00:00:00Z",
                            "consecutive_failures": 2, "serving_mismatch": []}]
    Hook.status = 500
    assert "www" in report.post_alert(hook, ITEM) and "500" in report.post_alert(hook, ITEM)


def test_an_unreachable_webhook_is_reported_not_raised():
    why = report.post_alert("http://127.0.0.1:9/hook", ITEM)
    assert why.startswith("www: ") and "refused" in why.lower()
