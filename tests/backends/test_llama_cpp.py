"""The llama.cpp backend on the real embedded SmolLM2-135M-Instruct Q4_1."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from genchat import (
    ChatRequest,
    ContextOverflow,
    Finished,
    GenerationParams,
    Loading,
    Message,
    ModelLoadError,
    ModelNotFound,
    Notice,
    Queued,
    Started,
    TextDelta,
    Usage,
)
from genchat.backends.local.llama_cpp import MODELS, LlamaCppBackend, LlamaCppOptions
from tests.support.backend_contract import BackendContract, collect, text_of


def make_backend(path: Path, **options: object) -> LlamaCppBackend:
    return LlamaCppBackend(LlamaCppOptions(path=path, n_threads=2, **options))  # type: ignore[arg-type]


@pytest.fixture
async def backend(smollm2_path: Path) -> AsyncIterator[LlamaCppBackend]:
    backend = make_backend(smollm2_path)
    yield backend
    await backend.aclose()


class TestLlamaCppContract(BackendContract):
    """The shared backend contract, on the real model."""


def ask(text: str, **params: object) -> ChatRequest:
    return ChatRequest([Message("user", text)], GenerationParams(**params))  # type: ignore[arg-type]


async def test_first_request_loads_then_starts_and_reports_exact_usage(
    backend: LlamaCppBackend,
) -> None:
    events = await collect(backend, ask("Name a colour.", temperature=0, max_tokens=4))
    kinds = [type(e) for e in events]
    assert kinds.index(Loading) < kinds.index(Started) < kinds.index(TextDelta)
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.prompt_tokens and usage.prompt_tokens > 5
    assert usage.completion_tokens == 4
    # the second request finds the model loaded
    events = await collect(backend, ask("Name a colour.", temperature=0, max_tokens=4))
    assert not any(isinstance(e, Loading) for e in events)


async def test_temperature_zero_is_deterministic(backend: LlamaCppBackend) -> None:
    request = ask("What is the capital of France?", temperature=0, max_tokens=12)
    assert text_of(await collect(backend, request)) == text_of(await collect(backend, request))


async def test_seed_makes_sampling_repeatable(backend: LlamaCppBackend) -> None:
    request = ask("Tell me a word.", temperature=1.0, seed=1234, max_tokens=12)
    assert text_of(await collect(backend, request)) == text_of(await collect(backend, request))


async def test_the_whole_history_goes_to_the_model(backend: LlamaCppBackend) -> None:
    one = ChatRequest([Message("user", "Hi")], GenerationParams(max_tokens=1))
    three = ChatRequest(
        [
            Message("user", "Hi"),
            Message("assistant", "Hello! How can I help?"),
            Message("user", "Hi"),
        ],
        GenerationParams(max_tokens=1),
    )
    usage_one = next(e for e in await collect(backend, one) if isinstance(e, Usage))
    usage_three = next(e for e in await collect(backend, three) if isinstance(e, Usage))
    assert usage_one.prompt_tokens and usage_three.prompt_tokens
    assert usage_three.prompt_tokens > usage_one.prompt_tokens + 8


async def test_chat_format_override_replaces_the_gguf_template(smollm2_path: Path) -> None:
    # SmolLM2's own template adds a default system prompt; plain chatml does not.
    request = ChatRequest([Message("user", "Hi")], GenerationParams(max_tokens=1))
    own, chatml = make_backend(smollm2_path), make_backend(smollm2_path, chat_format="chatml")
    try:
        own_usage = next(e for e in await collect(own, request) if isinstance(e, Usage))
        chatml_usage = next(e for e in await collect(chatml, request) if isinstance(e, Usage))
    finally:
        await own.aclose()
        await chatml.aclose()
    assert own_usage.prompt_tokens and chatml_usage.prompt_tokens
    assert chatml_usage.prompt_tokens < own_usage.prompt_tokens


async def test_n_ctx_defaults_to_the_trained_context_capped(smollm2_path: Path) -> None:
    default, small = make_backend(smollm2_path), make_backend(smollm2_path, n_ctx=512)
    try:
        assert (await default.list_models())[0].context_length == 8192
        assert (await small.list_models())[0].context_length == 512
        await collect(small, ask("Hi", max_tokens=1))
        assert (await small.list_models())[0].context_length == 512
        details = (await default.list_models())[0].details
        assert details["quantisation"] == "Q4_1" and details["trained context"] == "8192"
    finally:
        await default.aclose()
        await small.aclose()


async def test_prompt_longer_than_the_context_is_a_clear_context_overflow(
    smollm2_path: Path,
) -> None:
    backend = make_backend(smollm2_path, n_ctx=256)
    try:
        with pytest.raises(ContextOverflow) as info:
            await collect(backend, ask("word " * 400, max_tokens=4))
        assert "n_ctx" in info.value.message and "256" in info.value.message
        # the model is still usable
        assert text_of(await collect(backend, ask("Hi", max_tokens=2)))
    finally:
        await backend.aclose()


async def test_missing_model_file(tmp_path: Path) -> None:
    backend = make_backend(tmp_path / "nope.gguf")
    with pytest.raises(ModelNotFound) as info:
        await collect(backend, ask("Hi"))
    assert "nope.gguf does not exist" in info.value.message and "path" in info.value.message
    # listing does not fail: it shows the problem
    (model,) = await backend.list_models()
    assert "does not exist" in model.description


async def test_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model")
    with pytest.raises(ModelLoadError) as info:
        await collect(make_backend(fake), ask("Hi"))
    assert "not a GGUF file" in info.value.message


async def test_a_truncated_gguf_file(tmp_path: Path, smollm2_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm2_path.read_bytes()[:4096])
    with pytest.raises(ModelLoadError) as info:
        await collect(make_backend(broken), ask("Hi"))
    assert "damaged" in info.value.message


async def test_a_context_too_large_for_memory_says_so_and_what_to_set(
    smollm2_path: Path,
) -> None:
    # 2^25 tokens of KV cache is about 770 GB for this model: llama.cpp loads the model, then
    # cannot make the context. That is not a damaged file. (At 2^30 tokens, what it allocates
    # per token besides the cache took 15 GB of this machine's memory before it gave up.)
    backend = make_backend(smollm2_path, n_ctx=1 << 25)
    try:
        with pytest.raises(ModelLoadError) as info:
            await collect(backend, ask("Hi"))
    finally:
        await backend.aclose()
    assert info.value.title == "Context too large for memory"
    assert "33,554,432 tokens" in info.value.message
    assert "smaller n_ctx" in info.value.message and "damaged" not in info.value.message


async def test_one_file_is_loaded_once_and_shared(smollm2_path: Path) -> None:
    first, second = make_backend(smollm2_path), make_backend(smollm2_path)
    try:
        await collect(first, ask("Hi", max_tokens=1))
        events = await collect(second, ask("Hi", max_tokens=1))
        assert not any(isinstance(e, Loading) for e in events)
        assert first._key == second._key
        loaded = MODELS.loaded(first._key)  # type: ignore[arg-type]
        assert loaded is not None and loaded.users == 2
    finally:
        await first.aclose()
        await second.aclose()
    assert MODELS.loaded(first._key) is None  # type: ignore[arg-type]


async def test_a_request_behind_another_on_the_same_model_is_queued(
    backend: LlamaCppBackend,
) -> None:
    await collect(backend, ask("Hi", max_tokens=1))  # loaded
    first_started = asyncio.Event()

    async def first() -> None:
        async for event in backend.stream(ask("Count to twenty.", temperature=0, max_tokens=24)):
            if isinstance(event, TextDelta):
                first_started.set()

    task = asyncio.create_task(first())
    await first_started.wait()
    events = await collect(backend, ask("Hi", max_tokens=2))
    await task
    kinds = [type(e) for e in events]
    assert kinds.index(Queued) < kinds.index(Started)
    assert isinstance(events[-1], Finished)


async def test_gpu_layers_on_a_cpu_build_say_so(smollm2_path: Path) -> None:
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama.cpp build has GPU offload")
    backend = make_backend(smollm2_path, n_gpu_layers=-1)
    try:
        events = await collect(backend, ask("Hi", max_tokens=1))
    finally:
        await backend.aclose()
    notice = next(e for e in events if isinstance(e, Notice))
    assert "no GPU support" in notice.text


async def test_loading_does_not_touch_the_process_stdout_or_stderr(
    smollm2_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    backend = make_backend(smollm2_path, n_ctx=384)
    try:
        await collect(backend, ask("Hi", max_tokens=2))
    finally:
        await backend.aclose()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


async def test_threads_default_to_the_physical_cores(backend: LlamaCppBackend) -> None:
    from genchat.backends.local.llama_loading import default_threads

    await collect(backend, ask("Hi", max_tokens=1))
    loaded = MODELS.loaded(backend._key)  # type: ignore[arg-type]
    assert loaded is not None
    assert 1 <= default_threads() <= len(os.sched_getaffinity(0))
    # the `backend` fixture sets n_threads=2; a profile without it gets the default
    plain = LlamaCppBackend(LlamaCppOptions(path=backend.options.path))  # type: ignore[attr-defined]
    try:
        await collect(plain, ask("Hi", max_tokens=1))
        assert plain._key is not None and plain._key.n_threads == default_threads()
        assert MODELS.loaded(plain._key).llm.n_threads == default_threads()  # type: ignore[union-attr]
    finally:
        await plain.aclose()
