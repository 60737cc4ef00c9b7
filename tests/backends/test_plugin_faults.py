"""Broken plugins cost only themselves: one that exits the process mid-reply, and a package
whose entry-point metadata cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from genchat.plugins.manager import load_plugins
from genchat.tui.app import make_app
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage
from tests.support.helpers import make_plugin_site
from tests.support.pilot import SIZE, finish, scripted_profile, send, wait_for


async def test_a_plugin_that_calls_sys_exit_mid_reply_leaves_the_tui_running(
    test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("exits", exit_after=2) + scripted_profile("ok"))
    app = make_app("exits")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: bool(app.screen.query(ErrorMessage)), "the error")
        await finish(pilot)  # the error shows before the reply is saved; sending waits for both
        error = app.screen.query_one(ErrorMessage)
        assert "from plugin scripted" in error.turn.text
        assert "SystemExit" in error.turn.text
        assert app.screen.query_one(AssistantMessage).text == "Hello, "  # kept
        await send(pilot, "again")  # the app, and the plugin's next reply, go on
        await wait_for(pilot, lambda: len(app.screen.query(ErrorMessage)) == 2, "a second reply")
        await finish(pilot)
        assert app.is_running


def test_a_package_whose_entry_points_cannot_be_read_costs_only_its_own_plugins(
    test_plugins: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = make_plugin_site(tmp_path / "broken", {"half\rline": "genchat_test_scripted"})
    dist_info = next(broken.glob("*.dist-info"))
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-metadata\nVersion: 1\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(broken))
    monkeypatch.delenv("GENCHAT_PLUGINS")
    registry = load_plugins()
    assert "scripted" in registry.plugins  # the other distribution's plugins load
    failure = registry.failure_for("broken-metadata")
    assert failure is not None and failure.stage == "import"
