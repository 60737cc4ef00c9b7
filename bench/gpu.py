"""One short GPU run, for a machine with a CUDA GPU: the paths the CPU machines cannot check.

- the `peft` backend on CUDA in bfloat16, and with the base quantised to 4-bit nf4 by
  bitsandbytes as it loads (QLoRA-style), the demo adapter active;
- llama.cpp with every layer offloaded (`n_gpu_layers = -1`), where llama-cpp-python was built
  with CUDA (CMAKE_ARGS=-DGGML_CUDA=on); otherwise it says so.

Each reply is greedy, `MAX_TOKENS` tokens at most, measured by genchat's `Reply` like every
other backend; the figures are labelled with the card's name. Prints JSON.

    pip install bitsandbytes && python bench/gpu.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

MAX_TOKENS = 64
PROMPT = "Why is the sky blue?"


async def _reply(backend: Any, model: str | None) -> dict[str, Any]:
    from genchat.chat import ChatRequest, GenerationParams, Message
    from genchat.reply import Reply

    request = ChatRequest(
        [Message("user", PROMPT)],
        GenerationParams(temperature=0, max_tokens=MAX_TOKENS),
        model=model,
    )
    await _drain(Reply(backend, request))  # loads and warms up
    reply = Reply(backend, request)
    await _drain(reply)
    m = reply.metrics
    return {
        "tokens_per_s": m.tokens_per_s,
        "ttft_s": m.ttft_s,
        "tokens": m.completion_tokens,
        "starts_with_tldr": reply.text.startswith("TL;DR:"),
        "text": reply.text[:120],
    }


async def _drain(reply: Any) -> None:
    async for _ in reply.stream():
        pass


async def main() -> dict[str, Any]:
    import torch

    from genchat.backends.local.llama_cpp import LlamaCppBackend, LlamaCppOptions
    from genchat.backends.local.llama_loading import gpu_offload_supported
    from genchat.backends.local.peft import PeftBackend, PeftOptions
    from genchat.backends.lora import demo_adapter_path
    from genchat.embedded import embedded_model_path
    from genchat.errors import GenchatError

    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU here")
    model, adapter = embedded_model_path(), demo_adapter_path()
    assert model is not None and adapter is not None
    adapters = {"tldr": adapter}
    results: dict[str, Any] = {"card": torch.cuda.get_device_name(0)}
    for label, options in (
        ("peft cuda bfloat16", PeftOptions(base=str(model), adapters=adapters, device="cuda")),
        (
            "peft cuda 4-bit nf4",
            PeftOptions(base=str(model), adapters=adapters, device="cuda", load_in_4bit=True),
        ),
    ):
        backend = PeftBackend(options)
        try:
            results[label] = await _reply(backend, "tldr")
        except GenchatError as exc:
            results[label] = {"error": exc.one_line()}
        finally:
            await backend.aclose()
    if gpu_offload_supported():
        q4 = LlamaCppBackend(LlamaCppOptions(path=model, adapters=adapters, n_gpu_layers=-1))
        try:
            results["llama.cpp all layers on the GPU"] = await _reply(q4, "tldr")
        finally:
            await q4.aclose()
    else:
        results["llama.cpp all layers on the GPU"] = "this llama-cpp-python has no GPU support"
    return results


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(json.dumps(asyncio.run(main()), indent=2))
