"""LoRA: the peft backend against bare transformers, the 4-bit llama.cpp path against peft, and
the time to load a GGUF base cold (dequantised) and warm (from the safetensors cache).

Every variant runs in a fresh process, in alternating order: torch and llama.cpp compute on
OpenMP thread teams that belong to the calling thread, and teams taking turns in one process
slow each other. All variants run the embedded SmolLM2-135M-Instruct with the demo adapter
`tldr` active, the same prompt, greedy, `MAX_TOKENS` tokens at most.

    .venv/bin/python bench/lora.py      # prints the results as JSON
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

PROMPT = "Write a long story about a lighthouse keeper."
MAX_TOKENS = 96
ROUNDS = 5


def _request() -> Any:
    from genchat.chat import ChatRequest, GenerationParams, Message

    return ChatRequest(
        [Message("user", PROMPT)],
        GenerationParams(temperature=0, max_tokens=MAX_TOKENS),
        model="tldr",
    )


async def _through_genchat(backend: Any) -> dict[str, float]:
    """One reply through genchat's Reply, which measures every backend the same way."""
    from genchat.reply import Reply

    reply = Reply(backend, _request())
    async for _ in reply.stream():
        pass
    m = reply.metrics
    assert m.tokens_per_s and m.completion_tokens
    return {"tokens": m.completion_tokens, "tokens_per_s": m.tokens_per_s, "load_s": m.load_s}


def _backends() -> tuple[Any, Any]:
    from genchat.backends.local.llama_cpp import LlamaCppBackend, LlamaCppOptions
    from genchat.backends.local.peft import PeftBackend, PeftOptions
    from genchat.backends.lora import demo_adapter_path
    from genchat.embedded import embedded_model_path

    model, adapter = embedded_model_path(), demo_adapter_path()
    assert model is not None and adapter is not None
    adapters = {"tldr": adapter}
    peft = PeftBackend(PeftOptions(base=str(model), adapters=adapters))
    q4 = LlamaCppBackend(LlamaCppOptions(path=model, adapters=adapters, n_ctx=1024))
    return peft, q4


def variant_genchat() -> dict[str, float]:
    peft, _ = _backends()
    asyncio.run(_through_genchat(peft))  # load, and warm up
    return asyncio.run(_through_genchat(peft))


def variant_q4() -> dict[str, float]:
    _, q4 = _backends()
    asyncio.run(_through_genchat(q4))
    return asyncio.run(_through_genchat(q4))


def variant_bare() -> dict[str, float]:
    """transformers' own streaming: generate() in a thread, a TextIteratorStreamer read here."""
    import torch
    from transformers import TextIteratorStreamer

    from genchat.backends.local.hf_loading import BASES

    peft, _ = _backends()
    asyncio.run(_through_genchat(peft))  # the same load, adapters and warm-up as genchat's
    assert peft._key is not None
    base = BASES.loaded(peft._key)
    assert base is not None
    model, tokenizer = base.model, base.tokenizer
    model.set_adapter(peft._names["tldr"])
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    counted = {"tokens": 0}

    class Count(TextIteratorStreamer):  # type: ignore[misc]
        def put(self, value: Any) -> None:
            if self.next_tokens_are_prompt is False:
                counted["tokens"] += int(value.numel())
            super().put(value)

    streamer = Count(tokenizer, skip_prompt=True, skip_special_tokens=True)

    def generate() -> None:
        with torch.inference_mode():
            model.generate(
                **inputs,
                max_new_tokens=MAX_TOKENS,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                streamer=streamer,
                pad_token_id=tokenizer.eos_token_id,
            )

    started = time.perf_counter()
    worker = threading.Thread(target=generate)
    worker.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    worker.join()
    assert first is not None
    tokens = counted["tokens"]
    # As genchat's Reply measures: tokens after the first, over the time since the first.
    return {
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / (end - first),
        "load_s": 0.0,
        "wall_s": end - started,
    }


def variant_load() -> dict[str, float]:
    """Load the base twice (GENCHAT_CACHE_DIR decides whether the first is cold), timing each.

    The first load in a process also pays for transformers importing its model and tokenizer
    code (it imports lazily); the second is the weights alone.
    """
    from genchat.backends.local.hf_loading import BaseKey, import_torch, load_base
    from genchat.embedded import embedded_model_path

    import_torch()  # before the clock starts: loading is what is timed
    path = embedded_model_path()
    assert path is not None
    key = BaseKey(str(path.resolve()), "cpu", "float32")
    times = []
    for _ in range(2):
        started = time.perf_counter()
        load_base(key, lambda event: None)
        times.append(time.perf_counter() - started)
    return {"first_s": times[0], "again_s": times[1]}


def _run(variant: str, env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, variant],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure() -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "genchat": [], "q4": []}
    order = ["bare", "genchat", "q4"]
    for round_ in range(ROUNDS):
        for variant in order if round_ % 2 == 0 else reversed(order):
            runs[variant].append(_run(variant))
    median = {k: statistics.median(r["tokens_per_s"] for r in v) for k, v in runs.items()}
    with tempfile.TemporaryDirectory(prefix="genchat-bench-cache-") as cache:
        env = {**os.environ, "GENCHAT_CACHE_DIR": cache}
        cold = _run("load", env)
        warm = [_run("load", env) for _ in range(ROUNDS)]
    return {
        "max_tokens": MAX_TOKENS,
        "tokens": runs["genchat"][0]["tokens"],
        "rounds": ROUNDS,
        "tokens_per_s": median,
        "genchat_over_bare": median["genchat"] / median["bare"],
        "q4_over_peft": median["q4"] / median["genchat"],
        "cold_load_s": cold["first_s"],
        "warm_load_s": statistics.median(w["first_s"] for w in warm),
        "again_load_s": statistics.median([cold["again_s"], *(w["again_s"] for w in warm)]),
        "threads": os.cpu_count(),
    }


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if len(sys.argv) > 1:
        print(json.dumps(globals()[f"variant_{sys.argv[1]}"]()))
    else:
        print(json.dumps(measure(), indent=2))
