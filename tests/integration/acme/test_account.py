"""acme_account against a real Pebble."""
import os
import stat


def test_account_lifecycle(play):
    play.run("account.yml")
    for name in ("account.key", "account-new.key"):
        assert stat.S_IMODE(os.stat(os.path.join(str(play.workdir), name)).st_mode) == 0o600
