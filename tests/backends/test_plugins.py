"""The plugin system: built-ins through the same hook, real entry points, and every failure mode."""

from __future__ import annotations

import pytest

from genchat.backends.local.llama_cpp import LlamaCppBackend
from genchat.backends.lora.adapters import lora_extra_installed
from genchat.plugins.manager import BUILTIN_PLUGINS, load_plugins, parse_allow_list
from tests.support.helpers import run_in_process


def test_builtin_backend_registers_through_the_plugin_hook() -> None:
    registry = load_plugins()
    assert registry.backends["llama-cpp"] is LlamaCppBackend
    builtin = registry.plugins["genchat.backends.local.llama_cpp"]
    assert builtin.builtin
    assert builtin.backends == ["llama-cpp"]
    lora = lora_extra_installed()
    assert builtin.profiles == (["smollm2", "smollm2-lora-q4"] if lora else ["smollm2"])
    assert registry.plugins["genchat.backends.local.peft"].profiles == (
        ["smollm2-lora"] if lora else []
    )
    assert registry.failures == []


def test_a_profile_for_another_plugins_backend_must_say_so(test_plugins: str) -> None:
    registry = load_plugins(allow=frozenset({"foreign"}))
    borrowed = registry.profiles["company-openai"]
    assert borrowed.plugin == "foreign"
    assert borrowed.values == {
        "backend": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "company-model",
    }
    failure = registry.failure_for("foreign")
    assert failure is not None and failure.stage == "profiles"
    assert failure.error == (
        "ValueError: profile 'typo' uses backend 'openaii', which this plugin does not register"
        " (no plugin registers it); for another plugin's backend, register it with"
        " foreign_backend=True"
    )
    assert "typo" not in registry.profiles


def test_remote_profiles_appear_when_their_keys_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "openai" not in load_plugins().profiles
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert load_plugins().profiles["openai"].values["backend"] == "openai"


def test_allow_list_parsing() -> None:
    assert parse_allow_list(None) is None
    assert parse_allow_list("") == frozenset()
    assert parse_allow_list(" a, b ,,") == frozenset({"a", "b"})


def test_empty_allow_list_loads_only_builtins(test_plugins: str) -> None:
    registry = load_plugins(allow=frozenset())
    assert set(registry.plugins) == set(BUILTIN_PLUGINS)
    assert "scripted" in registry.skipped


def test_entry_point_plugin_registers_backend_and_profile(test_plugins: str) -> None:
    registry = load_plugins(allow=frozenset({"scripted"}))
    info = registry.plugins["scripted"]
    assert not info.builtin
    assert info.distribution == "genchat-test-plugins"
    assert info.backends == ["scripted"]
    assert registry.backend_plugins["scripted"] == "scripted"
    assert "scripted" in registry.profiles
    assert registry.failures == []


@pytest.mark.parametrize(
    ("plugin", "stage", "text"),
    [
        ("import-error", "import", "libmissing"),
        ("register-error", "backends", "registration exploded"),
        ("unknown-hook", "hooks", "genchat_register_widgets"),
        (
            "duplicate",
            "backends",
            "already registered by plugin 'genchat.backends.local.llama_cpp'",
        ),
    ],
)
def test_a_broken_plugin_costs_only_itself(
    test_plugins: str, plugin: str, stage: str, text: str
) -> None:
    registry = load_plugins(allow=frozenset({plugin, "scripted"}))
    failure = registry.failure_for(plugin)
    assert failure is not None
    assert failure.stage == stage
    assert text in failure.error
    # everything else still loads
    assert "scripted" in registry.backends
    assert registry.backends["llama-cpp"] is LlamaCppBackend


def test_all_broken_plugins_at_once_leave_the_rest_working(test_plugins: str) -> None:
    registry = load_plugins()  # GENCHAT_PLUGINS is empty in tests
    assert registry.failures == []
    registry = load_plugins(
        allow=frozenset({"import-error", "register-error", "unknown-hook", "duplicate", "scripted"})
    )
    assert {f.name for f in registry.failures} == {
        "import-error",
        "register-error",
        "unknown-hook",
        "duplicate",
    }
    assert set(registry.backends) == {*load_plugins(allow=frozenset()).backends, "scripted"}


def test_no_plugins_flag_wins_over_the_allow_list(test_plugins: str) -> None:
    registry = load_plugins(no_plugins=True, allow=frozenset({"scripted"}))
    assert "scripted" not in registry.plugins


def test_allow_list_naming_a_missing_plugin_is_reported(test_plugins: str) -> None:
    registry = load_plugins(allow=frozenset({"nonesuch"}))
    failure = registry.failure_for("nonesuch")
    assert failure is not None and "not installed" in failure.error


def test_genchat_plugins_command_lists_loaded_failed_and_skipped(test_plugins: str) -> None:
    result = run_in_process(
        "plugins", env={"GENCHAT_PLUGINS": "scripted,import-error,unknown-hook"}
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "built-in  genchat.backends.local.llama_cpp" in out
    assert "backends: llama-cpp" in out
    assert "scripted (genchat-test-plugins 0.1)  backends: scripted" in out
    assert "failed    import-error  at import: ImportError: this plugin needs libmissing" in out
    assert "failed    unknown-hook  at hooks" in out
    assert "skipped" in out and "duplicate" in out


def test_no_plugins_flag_on_the_command_line(test_plugins: str) -> None:
    result = run_in_process("--no-plugins", "plugins", env={"GENCHAT_PLUGINS": "scripted"})
    assert result.returncode == 0
    assert "scripted (" not in result.stdout
    result = run_in_process("plugins", "--no-plugins", env={"GENCHAT_PLUGINS": "scripted"})
    assert "scripted (" not in result.stdout


def test_a_plugin_crashing_mid_stream_gives_a_clear_error(test_plugins: str, config_file) -> None:
    config_file.write_text('[profiles.buggy]\nbackend = "scripted"\ncrash_after = 2\n')
    result = run_in_process("ask", "-m", "buggy", "hi", env={"GENCHAT_PLUGINS": "scripted"})
    assert result.returncode == 1
    assert result.stdout == "Hello, \n"  # the partial reply is kept
    assert "Plugin failed: The scripted backend (from plugin scripted) failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
