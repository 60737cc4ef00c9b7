"""LoRA: the peft backend, llama.cpp with genchat's adapter converter, and the demo adapter.

Everything runs the real SmolLM2-135M-Instruct on the CPU with a few tokens. The base is
dequantised from the embedded GGUF file once per session into a shared cache dir, and one loaded
base serves every test (the process-wide cache shares it between backends with the same key).

Why one file: every test shares the one dequantised base and the loaded model; a file's tests run in
one worker, so a split would load them once per file.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genchat.backends.local.hf_loading import BASES, dequantised_cache_dir
from genchat.backends.local.llama_cpp import LlamaCppBackend, LlamaCppOptions
from genchat.backends.local.peft import PeftBackend, PeftOptions
from genchat.backends.lora import adapters as lora
from genchat.backends.lora import demo_adapter_path
from genchat.backends.lora.gguf import (
    UnsupportedAdapter,
    cached_conversion,
    converted_path,
    permute_rows,
    read_base,
)
from genchat.chat import (
    ChatRequest,
    GenerationParams,
    Loading,
    Message,
    Notice,
    StreamEvent,
)
from genchat.errors import BackendUnavailable, ModelLoadError, ModelNotFound
from tests.support.backend_contract import BackendContract, collect, text_of

torch = pytest.importorskip("torch", reason="the lora extra is part of the test extra")

PROMPTS = ["What is the water cycle?", "How do I keep houseplants alive?", "Why is the sky blue?"]


def ask(prompt: str, *, max_tokens: int = 48, model: str | None = None) -> ChatRequest:
    return ChatRequest(
        [Message("user", prompt)],
        GenerationParams(temperature=0, max_tokens=max_tokens),
        model=model,
    )


@pytest.fixture(scope="session")
def demo_adapter() -> Path:
    path = demo_adapter_path()
    assert path is not None, "the demo adapter ships inside the package"
    return path


@pytest.fixture(scope="session")
def lora_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lora-cache")


@pytest.fixture(autouse=True)
def shared_cache(lora_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One cache dir for the session: the dequantised base is written once."""
    monkeypatch.setenv("GENCHAT_CACHE_DIR", str(lora_cache))
    return lora_cache


class Loaded:
    """The session's peft backend on the embedded model, and what its first (cold) load said."""

    def __init__(self, backend: PeftBackend, events: list[StreamEvent]) -> None:
        self.backend = backend
        self.cold_events = events


@pytest.fixture(scope="session")
def peft_loaded(smollm2_path: Path, demo_adapter: Path, lora_cache: Path) -> Iterator[Loaded]:
    backend = PeftBackend(
        PeftOptions(base=str(smollm2_path), adapters={"tldr": demo_adapter}, model="base")
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENCHAT_CACHE_DIR", str(lora_cache))
        events = asyncio.run(collect(backend, ask("Hi", max_tokens=1)))
    yield Loaded(backend, events)
    asyncio.run(backend.aclose())


@pytest.fixture
def peft_backend(peft_loaded: Loaded) -> PeftBackend:
    return peft_loaded.backend


@pytest.fixture(scope="session")
def q4_backend(smollm2_path: Path, demo_adapter: Path, lora_cache: Path) -> Iterator[Any]:
    backend = LlamaCppBackend(
        LlamaCppOptions(path=smollm2_path, adapters={"tldr": demo_adapter}, n_ctx=1024)
    )
    yield backend
    asyncio.run(backend.aclose())


# -- the peft backend ---------------------------------------------------------------------


class TestPeftContract(BackendContract):
    @pytest.fixture
    async def backend(self, peft_loaded: Loaded) -> AsyncIterator[PeftBackend]:
        # A backend of its own (the contract closes it), on the session's loaded base.
        backend = PeftBackend(peft_loaded.backend.options)
        yield backend
        await backend.aclose()


class TestLlamaCppWithAdapterContract(BackendContract):
    @pytest.fixture
    async def backend(self, q4_backend: LlamaCppBackend) -> AsyncIterator[LlamaCppBackend]:
        backend = LlamaCppBackend(q4_backend.options)
        yield backend
        await backend.aclose()


def test_first_load_dequantises_with_progress_and_caches(
    peft_loaded: Loaded, smollm2_path: Path, lora_cache: Path
) -> None:
    loading = [e for e in peft_loaded.cold_events if isinstance(e, Loading)]
    fractions = [e.progress for e in loading if e.progress is not None]
    assert any("de-quantising" in e.detail for e in loading)
    for detail in {e.detail for e in loading}:  # each bar only moves forward
        bar = [e.progress for e in loading if e.detail == detail and e.progress is not None]
        assert bar == sorted(bar), detail
    assert fractions[-1] == 1.0 and len(fractions) > 10
    cached = dequantised_cache_dir(smollm2_path)
    assert cached.is_relative_to(lora_cache)
    assert (cached / "model.safetensors").stat().st_size > 100_000_000
    config = json.loads((cached / "config.json").read_text())
    assert "quantization_config" not in config


async def test_the_demo_adapter_changes_behaviour(peft_backend: PeftBackend) -> None:
    for prompt in PROMPTS[:2]:
        base = text_of(await collect(peft_backend, ask(prompt, model="base")))
        adapted = text_of(await collect(peft_backend, ask(prompt, model="tldr")))
        assert adapted.startswith("TL;DR:"), adapted
        assert "\n- " in adapted, adapted
        assert "TL;DR" not in base, base


async def test_switching_adapters_keeps_one_base(peft_backend: PeftBackend) -> None:
    before = text_of(await collect(peft_backend, ask(PROMPTS[0], max_tokens=16, model="base")))
    loaded = BASES.loaded(peft_backend._key) if peft_backend._key else None
    assert loaded is not None
    model = loaded.model
    adapted = text_of(await collect(peft_backend, ask(PROMPTS[0], max_tokens=16, model="tldr")))
    half = text_of(await collect(peft_backend, ask(PROMPTS[0], max_tokens=16, model="tldr*0.5")))
    after = text_of(await collect(peft_backend, ask(PROMPTS[0], max_tokens=16, model="base")))
    assert BASES.loaded(peft_backend._key) is loaded and loaded.model is model
    assert after == before  # disabling the adapter gives the base back exactly
    assert adapted != before
    assert half and len(loaded.combinations) == 1  # the half-weight mix, made on this base
    by_request = ChatRequest(
        [Message("user", PROMPTS[0])],
        GenerationParams(temperature=0, max_tokens=16),
        adapters={"tldr": 1.0},
    )
    assert text_of(await collect(peft_backend, by_request)) == adapted


async def test_a_second_profile_shares_the_loaded_base(
    peft_backend: PeftBackend, smollm2_path: Path, demo_adapter: Path
) -> None:
    other = PeftBackend(PeftOptions(base=str(smollm2_path), adapters={"style": demo_adapter}))
    try:
        events = await collect(other, ask(PROMPTS[1], max_tokens=4))
        assert not any(isinstance(e, Loading) and "de-quantising" in e.detail for e in events)
        assert other._key == peft_backend._key
        loaded = BASES.loaded(other._key) if other._key else None
        assert loaded is not None and loaded.users >= 2
    finally:
        await other.aclose()


async def test_models_list_the_base_and_each_adapter(peft_backend: PeftBackend) -> None:
    models = {m.id: m for m in await peft_backend.list_models()}
    assert set(models) == {"SmolLM2-135M-Instruct.Q4_1", "tldr"}
    assert models["tldr"].details["base"] == "SmolLM2-135M-Instruct.Q4_1"
    assert models["SmolLM2-135M-Instruct.Q4_1"].default  # the profile says model = "base"


async def test_a_warm_load_reads_the_safetensors_cache(
    peft_loaded: Loaded, smollm2_path: Path
) -> None:
    # Another dtype is another load of the same file: it must come from the cache.
    backend = PeftBackend(PeftOptions(base=str(smollm2_path), dtype="bfloat16"))
    try:
        events = await collect(backend, ask("Hi", max_tokens=2))
    finally:
        await backend.aclose()
    details = [e.detail for e in events if isinstance(e, Loading)]
    assert any("from the cache" in d for d in details), details
    assert not any("de-quantising" in d for d in details)


async def test_missing_adapter_config_is_named(peft_backend: PeftBackend, tmp_path: Path) -> None:
    broken = tmp_path / "adapter"
    broken.mkdir()
    (broken / "adapter_model.safetensors").write_bytes(b"")
    backend = PeftBackend(PeftOptions(base=peft_backend.options.base, adapters={"x": broken}))
    try:
        with pytest.raises(ModelLoadError, match=r"no adapter_config\.json"):
            await collect(backend, ask("Hi", max_tokens=1, model="x"))
        # The same backend still answers with the base model.
        assert text_of(await collect(backend, ask("Hi", max_tokens=2, model="base")))
    finally:
        await backend.aclose()


def write_adapter(path: Path, hidden: int, layers: int = 1, rank: int = 4) -> Path:
    """A LoRA adapter shaped for a model of another size: not this base's."""
    from safetensors.numpy import save_file

    path.mkdir(parents=True)
    tensors = {}
    for layer in range(layers):
        prefix = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        tensors[f"{prefix}.lora_A.weight"] = np.zeros((rank, hidden), np.float32)
        tensors[f"{prefix}.lora_B.weight"] = np.zeros((hidden, rank), np.float32)
    save_file(tensors, str(path / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": rank,
        "target_modules": ["q_proj"],
        "base_model_name_or_path": "another/model-1B",
        "task_type": "CAUSAL_LM",
    }
    (path / "adapter_config.json").write_text(json.dumps(config))
    return path


async def test_an_adapter_for_another_base_is_refused_on_both_paths(
    peft_backend: PeftBackend, smollm2_path: Path, tmp_path: Path
) -> None:
    wrong = write_adapter(tmp_path / "wrong", hidden=320)
    backend = PeftBackend(PeftOptions(base=str(smollm2_path), adapters={"wrong": wrong}))
    q4 = LlamaCppBackend(LlamaCppOptions(path=smollm2_path, adapters={"wrong": wrong}))
    try:
        for each in (backend, q4):
            with pytest.raises(ModelLoadError, match="does not fit this base model") as caught:
                await collect(each, ask("Hi", max_tokens=1, model="wrong"))
            assert "another/model-1B" in caught.value.message
    finally:
        await backend.aclose()
        await q4.aclose()


async def test_cuda_asked_for_and_absent(smollm2_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for options in (
        PeftOptions(base=str(smollm2_path), device="cuda"),
        PeftOptions(base=str(smollm2_path), load_in_4bit=True),
    ):
        backend = PeftBackend(options)
        with pytest.raises(BackendUnavailable) as caught:
            await collect(backend, ask("Hi", max_tokens=1))
        assert "CUDA" in caught.value.message and "llama-cpp" in caught.value.message
        await backend.aclose()


async def test_out_of_memory_while_loading_is_a_clear_error(
    session_entry: Path, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No real machine runs out of memory on demand: the allocation fails as torch's would.
    import transformers

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_memory)
    backend = PeftBackend(PeftOptions(base=str(smollm2_path), dtype="float16"))
    with pytest.raises(ModelLoadError, match="Not enough memory"):
        await collect(backend, ask("Hi", max_tokens=1))
    await backend.aclose()
    # The cached copy was read when memory ran out: it is not taken for damaged.
    assert (session_entry / "model.safetensors").is_file()


async def test_a_hub_id_that_is_not_cached_says_how_to_get_it(tmp_path: Path) -> None:
    backend = PeftBackend(PeftOptions(base="nobody/no-such-model"))
    with pytest.raises(ModelNotFound, match="not in the local Hugging Face cache"):
        await collect(backend, ask("Hi", max_tokens=1))
    await backend.aclose()


def test_a_hub_id_from_the_local_cache_loads(
    session_entry: Path, tmp_path: Path, config_file: Path
) -> None:
    # A hub cache laid out as huggingface_hub writes it, holding the dequantised model; the
    # variable is read when huggingface_hub is imported, so this runs `genchat ask` afresh.
    repo = tmp_path / "hub" / "models--genchat--smollm2"
    shutil.copytree(session_entry, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    config_file.write_text('[profiles.hub]\nbackend = "peft"\nbase = "genchat/smollm2"\n')
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub")}
    result = subprocess.run(
        [sys.executable, "-m", "genchat", "ask", "-m", "hub", "--max-tokens", "4", "Hi"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


# -- the cache, damaged or unwritable -------------------------------------------------------


@pytest.fixture
def session_entry(peft_loaded: Loaded, smollm2_path: Path) -> Path:
    """The session's dequantised copy of the embedded model (the first load wrote it)."""
    return dequantised_cache_dir(smollm2_path)


async def test_a_damaged_cache_is_rebuilt(
    session_entry: Path, smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENCHAT_CACHE_DIR", str(tmp_path / "cache"))
    entry = dequantised_cache_dir(smollm2_path)
    shutil.copytree(session_entry, entry)
    with (entry / "model.safetensors").open("r+b") as f:
        f.truncate(1000)  # a copy cut short, as by a full disk
    backend = PeftBackend(PeftOptions(base=str(smollm2_path), dtype="float16"))
    try:
        events = await collect(backend, ask("Hi", max_tokens=2))
    finally:
        await backend.aclose()
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("damaged" in n and "rebuilding" in n for n in notices), notices
    assert (entry / "model.safetensors").stat().st_size > 100_000_000
    assert text_of(events)


async def test_an_unwritable_cache_dir_warns_and_still_loads(
    peft_loaded: Loaded, smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("GENCHAT_CACHE_DIR", str(not_a_dir / "cache"))  # even root cannot
    backend = PeftBackend(PeftOptions(base=str(smollm2_path), dtype="float16"))
    try:
        events = await collect(backend, ask("Hi", max_tokens=2))
        notices = [e.text for e in events if isinstance(e, Notice)]
        assert any("Could not cache" in n and "GENCHAT_CACHE_DIR" in n for n in notices)
        assert text_of(events)
        # The converter says the same, and converts into a temporary file instead.
        adapter = lora.read_adapter("tldr", demo_adapter_path() or Path())
        path, warning = cached_conversion(adapter, smollm2_path)
        assert warning and "Could not cache the converted adapter" in warning
        assert path.is_file()
        path.unlink()
    finally:
        await backend.aclose()


# -- the converter --------------------------------------------------------------------------


def test_the_converter_writes_the_adapter_llama_cpp_expects(
    demo_adapter: Path, smollm2_path: Path
) -> None:
    import gguf
    from safetensors.numpy import load_file

    adapter = lora.read_adapter("tldr", demo_adapter)
    path, warning = cached_conversion(adapter, smollm2_path)
    assert warning is None and path == converted_path(adapter, read_base(smollm2_path))
    reader = gguf.GGUFReader(str(path))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(adapter.alpha)
    written = {t.name: np.asarray(t.data).reshape(tuple(reversed(t.shape))) for t in reader.tensors}
    peft = load_file(str(demo_adapter / "adapter_model.safetensors"))
    assert len(written) == len(peft)
    prefix = "base_model.model.model.layers.3.self_attn"
    np.testing.assert_array_equal(
        written["blk.3.attn_v.weight.lora_a"], peft[f"{prefix}.v_proj.lora_A.weight"]
    )
    np.testing.assert_array_equal(
        written["blk.3.attn_v.weight.lora_b"], peft[f"{prefix}.v_proj.lora_B.weight"]
    )
    np.testing.assert_array_equal(
        written["blk.3.attn_q.weight.lora_b"],
        permute_rows(peft[f"{prefix}.q_proj.lora_B.weight"], 9),
    )
    np.testing.assert_array_equal(
        written["blk.3.attn_k.weight.lora_b"],
        permute_rows(peft[f"{prefix}.k_proj.lora_B.weight"], 3),
    )
    # A second request uses the cached file.
    mtime = path.stat().st_mtime_ns
    assert cached_conversion(adapter, smollm2_path)[0].stat().st_mtime_ns == mtime


def test_the_permutation_is_the_one_llama_cpp_applied_to_the_base(
    peft_loaded: Loaded, smollm2_path: Path
) -> None:
    """transformers un-permuted the GGUF's q and k weights as it loaded them; permuting them
    back must give the GGUF's own rows, exactly."""
    import gguf

    reader = gguf.GGUFReader(str(smollm2_path))
    tensors = {t.name: t for t in reader.tensors}
    key = peft_loaded.backend._key
    loaded = BASES.loaded(key) if key else None
    assert loaded is not None
    state = loaded.model.state_dict()
    for name, hf, heads in (("attn_q", "q_proj", 9), ("attn_k", "k_proj", 3)):
        t = tensors[f"blk.5.{name}.weight"]
        in_gguf = gguf.quants.dequantize(t.data, t.tensor_type)
        [hf_weight] = [
            v
            for k, v in state.items()
            if k.endswith((f"layers.5.self_attn.{hf}.weight", f"{hf}.base_layer.weight"))
            and ".layers.5." in k
        ]
        np.testing.assert_allclose(
            permute_rows(hf_weight.float().numpy(), heads), in_gguf, atol=1e-6
        )


def test_a_non_llama_base_is_refused_for_conversion(tmp_path: Path, demo_adapter: Path) -> None:
    import gguf

    other = tmp_path / "qwen.gguf"
    writer = gguf.GGUFWriter(str(other), "qwen2")
    writer.add_uint32("qwen2.attention.head_count", 2)
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UnsupportedAdapter, match=r"llama-architecture.*peft profile"):
        cached_conversion(lora.read_adapter("tldr", demo_adapter), other)


async def test_a_missing_adapter_fails_its_requests_and_the_base_carries_on(
    tmp_path: Path, smollm2_path: Path
) -> None:
    backend = LlamaCppBackend(LlamaCppOptions(path=smollm2_path, adapters={"x": tmp_path / "none"}))
    try:
        with pytest.raises(ModelNotFound, match="does not exist"):
            await collect(backend, ask("Hi", max_tokens=1, model="x"))
        assert text_of(await collect(backend, ask("Hi", max_tokens=2, model="base")))
    finally:
        await backend.aclose()


# -- the two paths agree --------------------------------------------------------------------


def adapter_effects(peft_backend: PeftBackend, q4: LlamaCppBackend, prompt: str) -> tuple[Any, Any]:
    """The adapter's effect on the next-token logits (adapted minus base), on each path."""
    from genchat.backends.local.llama_loading import MODELS

    key = peft_backend._key
    loaded = BASES.loaded(key) if key else None
    assert loaded is not None and q4._key is not None
    tokenizer, model = loaded.tokenizer, loaded.model
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    with torch.inference_mode():
        model.set_adapter(peft_backend._names["tldr"])
        adapted = model(torch.tensor([ids])).logits[0, -1].numpy()
        with model.disable_adapter():
            base = model(torch.tensor([ids])).logits[0, -1].numpy()
    llama = MODELS.loaded(q4._key)
    assert llama is not None
    lora_file = q4._lora_files["tldr"]

    def last_logits(loras: list[tuple[Path, float]]) -> Any:
        with llama.lock:
            llama.use_loras(loras)
            llama.llm.reset()
            llama.llm.eval(ids)
            # Without logits_all, llama.cpp keeps the last position's logits only.
            last = llama.llm._ctx.get_logits()
            return np.ctypeslib.as_array(last, shape=(llama.llm.n_vocab(),)).copy()

    return adapted - base, last_logits([(lora_file, 1.0)]) - last_logits([])


async def test_the_adapter_does_the_same_on_llama_cpp_and_on_peft(
    peft_backend: PeftBackend, q4_backend: LlamaCppBackend
) -> None:
    # Both paths loaded, with the adapter converted for llama.cpp.
    await collect(peft_backend, ask("Hi", max_tokens=1, model="tldr"))
    await collect(q4_backend, ask("Hi", max_tokens=1, model="tldr"))
    for prompt in PROMPTS:
        on_peft, on_llama = adapter_effects(peft_backend, q4_backend, prompt)
        correlation = float(np.corrcoef(on_peft, on_llama)[0, 1])
        assert correlation >= 0.9, (prompt, correlation)


async def test_the_trained_style_shows_on_the_4bit_path(q4_backend: LlamaCppBackend) -> None:
    for prompt in PROMPTS[:2]:
        adapted = text_of(await collect(q4_backend, ask(prompt)))
        base = text_of(await collect(q4_backend, ask(prompt, model="base")))
        assert adapted.startswith("TL;DR:"), adapted
        assert "TL;DR" not in base, base


async def test_the_4bit_path_shares_one_model_between_base_and_adapter(
    q4_backend: LlamaCppBackend, smollm2_path: Path
) -> None:
    from genchat.backends.local.llama_loading import MODELS

    plain = LlamaCppBackend(LlamaCppOptions(path=smollm2_path, n_ctx=1024))
    try:
        await collect(plain, ask("Hi", max_tokens=2))
        await collect(q4_backend, ask("Hi", max_tokens=2, model="tldr"))
        assert plain._key == q4_backend._key
        shared = MODELS.loaded(q4_backend._key) if q4_backend._key else None
        assert shared is not None and shared.users >= 2
        # The base profile gets the base back after the adapter ran.
        assert shared.active_loras
        await collect(plain, ask("Hi", max_tokens=2))
        assert shared.active_loras == ()
    finally:
        await plain.aclose()


# -- profiles and the command line ----------------------------------------------------------


def test_genchat_models_lists_the_adapters_and_their_base() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "genchat", "models"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "smollm2-lora" in out and "smollm2-lora-q4" in out
    assert "tldr" in out and "LoRA adapter on SmolLM2-135M-Instruct.Q4_1" in out


def test_genchat_ask_with_the_4bit_adapter_profile() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genchat",
            "ask",
            "-m",
            "smollm2-lora-q4",
            "--temperature",
            "0",
            "--max-tokens",
            "24",
            PROMPTS[0],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("TL;DR:"), result.stdout


def test_combinations_parse_and_unknown_names_are_named() -> None:
    assert lora.parse_combination("a*0.5+b") == {"a": 0.5, "b": 1.0}
    with pytest.raises(ModelNotFound, match="ADAPTER"):
        lora.parse_combination("a*x")
    request = ChatRequest([Message("user", "x")], model="nope")
    with pytest.raises(ModelNotFound, match="It offers: base-id, tldr"):
        lora.choose(request, "base-id", {"tldr": 1}, None)
    assert lora.choose(ChatRequest([]), "base-id", {"tldr": 1}, None) == {"tldr": 1.0}
    assert lora.choose(ChatRequest([], model="base"), "base-id", {"tldr": 1}, None) == {}


# -- the chat screen ------------------------------------------------------------------------


async def test_the_tui_shows_load_progress_and_streams_from_peft(
    peft_loaded: Loaded,
    smollm2_path: Path,
    demo_adapter: Path,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from genchat.tui.app import make_app
    from genchat.tui.widgets.message import AssistantMessage
    from genchat.tui.widgets.status import StatusBar
    from tests.support.pilot import chat, finish, send

    config_file.write_text(
        "[profiles.lora]\n"
        'backend = "peft"\n'
        f"base = {json.dumps(str(smollm2_path))}\n"
        'dtype = "bfloat16"\n'  # another load of the base (from the cache), to watch it
        f"adapters = {{ tldr = {json.dumps(str(demo_adapter))} }}\n"
        "[profiles.lora.params]\n"
        "temperature = 0\n"
        "max_tokens = 24\n"
    )
    shown: list[tuple[str, float | None]] = []
    busy = StatusBar.busy

    def record(self: StatusBar, activity: str, progress: float | None = None) -> None:
        shown.append((activity, progress))
        busy(self, activity, progress)

    monkeypatch.setattr(StatusBar, "busy", record)
    app = make_app("lora")
    async with app.run_test(size=(100, 32)) as pilot:
        await send(pilot, PROMPTS[0])
        await finish(pilot)
        reply = chat(app).query_one(AssistantMessage)
        assert reply.text.startswith("TL;DR:"), reply.text
    loads = [(a, p) for a, p in shown if a.startswith("loading")]
    assert any("from the cache" in a for a, _ in loads), loads
    assert any(p is not None and 0 < p <= 1 for _, p in loads), loads
    assert shown[-1][0] == "streaming"


# -- merging --------------------------------------------------------------------------------


async def test_merge_needs_the_base_to_itself(
    peft_loaded: Loaded, session_entry: Path, smollm2_path: Path, demo_adapter: Path, tmp_path: Path
) -> None:
    adapters = {"tldr": demo_adapter}
    shared = PeftBackend(PeftOptions(base=str(smollm2_path), adapters=adapters, merge=True))
    try:
        with pytest.raises(BackendUnavailable, match="shares this base"):
            await collect(shared, ask("Hi", max_tokens=1))
    finally:
        await shared.aclose()

    # A Hugging Face model directory of its own (the dequantised model, as transformers reads it).
    directory = tmp_path / "SmolLM2-135M-Instruct"
    shutil.copytree(session_entry, directory)
    alone = PeftBackend(PeftOptions(base=str(directory), adapters=adapters, merge=True))
    other = PeftBackend(PeftOptions(base=str(directory)))
    try:
        merged = text_of(await collect(alone, ask(PROMPTS[0])))
        assert merged.startswith("TL;DR:"), merged
        with pytest.raises(BackendUnavailable, match="merged"):
            await collect(alone, ask("Hi", max_tokens=1, model="base"))
        with pytest.raises(BackendUnavailable, match="merged an adapter"):
            await collect(other, ask("Hi", max_tokens=1))
    finally:
        await alone.aclose()
        await other.aclose()


async def test_the_picker_switches_a_chat_between_an_adapter_and_its_base(
    q4_backend: LlamaCppBackend, config_file: Path
) -> None:
    from genchat.chat import Target
    from genchat.tui.app import make_app
    from genchat.tui.dialogs.picker import ModelPicker
    from genchat.tui.widgets.message import AssistantMessage
    from tests.support.pilot import chat, finish, send, wait_for

    # The built-in profile, with greedy sampling layered over it by the config file.
    config_file.write_text("[profiles.smollm2-lora-q4.params]\ntemperature = 0\nmax_tokens = 24\n")
    app = make_app("smollm2-lora-q4")
    async with app.run_test(size=(100, 32)) as pilot:
        await send(pilot, PROMPTS[0])
        await finish(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await wait_for(pilot, lambda: bool(picker.choices), "the model list")
        await pilot.press(*"lora-q4 instruct")
        await pilot.press("enter")
        await pilot.pause()
        assert chat(app).target == Target("smollm2-lora-q4", "SmolLM2-135M-Instruct.Q4_1")
        [adapted] = (m.text for m in chat(app).query(AssistantMessage))
        await pilot.press("ctrl+n")  # so the base does not see, and copy, the adapted reply
        await send(pilot, PROMPTS[0])
        await finish(pilot)
        [base] = (m.text for m in chat(app).query(AssistantMessage))
        assert chat(app).target.model == "SmolLM2-135M-Instruct.Q4_1"
    assert adapted.startswith("TL;DR:"), adapted
    assert "TL;DR" not in base, base
