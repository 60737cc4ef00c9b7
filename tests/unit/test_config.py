"""The config file: defaults, profiles merged over built-ins, and every mistake named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from genchat.chat import GenerationParams
from genchat.errors import ConfigError
from genchat.paths import config_path
from genchat.plugins.manager import load_plugins
from genchat.profiles.config import EXAMPLE_CONFIG, load_config
from genchat.profiles.profile import Profiles
from tests.support.helpers import run_in_process


def profiles_from(path: Path) -> Profiles:
    return Profiles(load_config(path), load_plugins())


def test_genchat_config_env_overrides_the_path(config_file: Path) -> None:
    assert config_path() == config_file


def test_no_file_gives_the_builtin_default_profile(config_file: Path, smollm2_path: Path) -> None:
    profiles = profiles_from(config_file)
    profile = profiles.get()
    assert profile.name == "smollm2"
    assert profile.backend == "llama-cpp"
    assert profile.options.path == smollm2_path  # type: ignore[attr-defined]
    assert profiles.problems == {}


def test_a_file_profile_overrides_a_builtin_key_by_key(
    config_file: Path, smollm2_path: Path
) -> None:
    config_file.write_text(
        "[profiles.smollm2]\nn_threads = 1\n[profiles.smollm2.params]\ntemperature = 0.2\n"
        'system = "Be brief."\n'
    )
    profile = profiles_from(config_file).get("smollm2")
    assert profile.options.path == smollm2_path  # type: ignore[attr-defined]
    assert profile.options.n_threads == 1  # type: ignore[attr-defined]
    assert profile.options.repeat_penalty == 1.1  # type: ignore[attr-defined]  # the builtin's
    # the builtin's cap stays, under the file's temperature
    assert profile.params == GenerationParams(temperature=0.2, max_tokens=512)
    assert profile.system == "Be brief."
    assert str(config_file) in profile.origin and "plugin" in profile.origin


def test_malformed_toml_names_the_file_and_line(config_file: Path) -> None:
    config_file.write_text('default_profile = "a"\n[profiles.x\n')
    with pytest.raises(ConfigError) as info:
        load_config(config_file)
    assert str(config_file) in info.value.message
    assert "line 2" in info.value.message


def test_wrong_types_are_named_by_key(config_file: Path) -> None:
    config_file.write_text(
        '[profiles.local]\nbackend = "llama-cpp"\npath = "/m.gguf"\nn_ctx = "4096"\n'
        '[profiles.local.params]\ntemperature = "hot"\n'
    )
    profiles = profiles_from(config_file)
    problems = profiles.problems["local"]
    assert any(p.startswith("profiles.local.n_ctx: ") and "'4096'" in p for p in problems)
    assert any(p.startswith("profiles.local.params.temperature: ") for p in problems)
    with pytest.raises(ConfigError) as info:
        profiles.get("local")
    assert "profiles.local.n_ctx" in info.value.message


def test_unknown_keys_suggest_the_right_one(config_file: Path) -> None:
    config_file.write_text(
        '[profiles.local]\nbackend = "llama-cpp"\npath = "/m.gguf"\nn_ctxx = 1\n'
    )
    (problem,) = profiles_from(config_file).problems["local"]
    assert problem == "profiles.local.n_ctxx: unknown key; did you mean 'n_ctx'?"


def test_top_level_mistakes_fail_the_whole_file(config_file: Path) -> None:
    config_file.write_text('default_profile = 3\npersonas = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(config_file)
    assert info.value.problems[0].startswith("default_profile: ")
    assert info.value.problems[1].startswith("personas: ")


def test_unknown_backend_is_named_with_the_known_ones(config_file: Path) -> None:
    config_file.write_text('[profiles.x]\nbackend = "llama_cpp"\n')
    (problem,) = profiles_from(config_file).problems["x"]
    assert problem.startswith("profiles.x.backend: unknown backend 'llama_cpp'")
    assert "llama-cpp" in problem


def test_a_broken_profile_does_not_stop_the_others(config_file: Path) -> None:
    config_file.write_text('[profiles.x]\nbackend = "nope"\n')
    profiles = profiles_from(config_file)
    assert profiles.get("smollm2").name == "smollm2"
    with pytest.raises(ConfigError):
        profiles.get("x")


def test_unknown_profile_lists_the_known_ones(config_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        profiles_from(config_file).get("gpt")
    assert "there is no profile 'gpt'" in info.value.message
    assert "smollm2" in info.value.message


def test_example_config_is_valid_and_commented() -> None:
    assert EXAMPLE_CONFIG.count("#") > 20
    import tomllib

    assert tomllib.loads(EXAMPLE_CONFIG) == {"default_profile": "smollm2"}


def test_config_init_check_and_path_commands(config_file: Path) -> None:
    result = run_in_process("config", "path")
    assert result.stdout.strip() == str(config_file)
    result = run_in_process("config", "init")
    assert result.returncode == 0 and config_file.read_text() == EXAMPLE_CONFIG
    result = run_in_process("config", "init")
    assert result.returncode == 2 and "--force" in result.stderr
    result = run_in_process("config", "check")
    assert result.returncode == 0, result.stderr
    from genchat.backends.lora.adapters import lora_extra_installed

    built_in = 3 if lora_extra_installed() else 1  # smollm2, and the two demo-adapter profiles
    assert f"ok ({built_in} profiles, default 'smollm2')" in result.stdout


def test_config_check_names_every_mistake(config_file: Path) -> None:
    config_file.write_text(
        'default_profile = "missing"\n'
        '[profiles.a]\nbackend = "llama-cpp"\n'
        '[profiles.b]\nbackend = "llama-cpp"\npath = "/x.gguf"\nn_gpu_layers = -2\n'
    )
    result = run_in_process("config", "check")
    assert result.returncode == 2
    err = result.stderr
    assert f"{config_file}: 3 problems" in err
    assert "profiles.a.path: required, but not set" in err
    assert "profiles.b.n_gpu_layers: Input should be greater than or equal to -1 (got -2)" in err
    assert "default_profile: there is no profile 'missing'" in err
    assert "Traceback" not in err


def test_config_check_on_malformed_toml_exits_2_without_traceback(config_file: Path) -> None:
    config_file.write_text("profiles = [\n")
    result = run_in_process("config", "check")
    assert result.returncode == 2
    assert str(config_file) in result.stderr and "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_configuration_reference_documents_every_key() -> None:
    from genchat.backends.local.llama_cpp import LlamaCppOptions
    from genchat.backends.local.peft import PeftOptions
    from genchat.backends.remote.anthropic import AnthropicOptions
    from genchat.backends.remote.ollama import OllamaOptions
    from genchat.backends.remote.openai import OpenAIOptions
    from genchat.profiles.config import Config, ParamsConfig, ProfileConfig

    reference = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    documented = (Config, ProfileConfig, ParamsConfig, LlamaCppOptions, PeftOptions)
    for model in (*documented, OpenAIOptions, AnthropicOptions, OllamaOptions):
        for key in model.model_fields:
            assert f"| `{key}` |" in reference, f"{model.__name__}.{key} is not documented"


def test_config_check_names_keymap_mistakes_with_the_binding_ids(config_file: Path) -> None:
    config_file.write_text('[keymap]\nsend = "ctrl+shift+alt+banana"\nsned = "enter"\n')
    result = run_in_process("config", "check")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"{config_file}: 2 problems"
    assert lines[1].startswith("  keymap.send: 'ctrl+shift+alt+banana': ")
    assert lines[2].startswith("  keymap.sned: unknown binding id; did you mean 'send'?")
    assert "(binding ids: " in lines[2] and "new_chat" in lines[2]


def test_config_check_refuses_a_model_path_that_is_missing_or_a_directory(
    config_file: Path, tmp_path: Path
) -> None:
    gone, folder = tmp_path / "gone.gguf", tmp_path / "models"
    folder.mkdir()
    config_file.write_text(
        f'[profiles.a]\nbackend = "llama-cpp"\npath = "{gone}"\n'
        f'[profiles.b]\nbackend = "llama-cpp"\npath = "{folder}"\n'
    )
    result = run_in_process("config", "check")
    assert result.returncode == 2
    assert f"  profiles.a.path: {gone} does not exist" in result.stderr
    assert f"  profiles.b.path: {folder} is a directory, not a model file" in result.stderr
    with pytest.raises(ConfigError) as info:
        profiles_from(config_file).get("a")
    assert info.value.problems == [f"profiles.a.path: {gone} does not exist"]
