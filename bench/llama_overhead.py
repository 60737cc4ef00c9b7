"""genchat's llama.cpp backend against llama-cpp-python called directly, side by side.

Same model file, prompt, greedy sampling, context size and threads. Each round runs both, in
alternating order, each in a fresh process: llama.cpp's OpenMP thread team belongs to the thread
that calls it, and two teams taking turns in one process slow each other down (measured: both
drop by about a fifth), which neither genchat nor a direct caller sees in real use. The result is
the ratio of decoding speeds (genchat / direct); DESIGN.md's target is at least 0.97.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genchat.backends.local.llama_cpp import LlamaCppBackend, LlamaCppOptions
from genchat.chat import ChatRequest, Finished, GenerationParams, Message, TextDelta, Usage
from genchat.embedded import embedded_model_path

PROMPT = "Count from 1 to 400, separated by commas."
N_CTX = 2048
THREADS = 2


@dataclass
class Run:
    tokens: int
    ttft_s: float
    decode_s: float
    total_s: float

    @property
    def decode_tps(self) -> float:
        return (self.tokens - 1) / self.decode_s

    @property
    def total_tps(self) -> float:
        return self.tokens / self.total_s


def direct_run(llm: object, max_tokens: int) -> Run:
    start = time.perf_counter()
    first = last = 0.0
    chunks = 0
    stream = llm.create_chat_completion(  # type: ignore[attr-defined]
        messages=[{"role": "user", "content": PROMPT}],
        temperature=0.0,
        max_tokens=max_tokens,
        stream=True,
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            chunks += 1
        finish = chunk["choices"][0].get("finish_reason")
    assert finish == "length", finish
    end = time.perf_counter()
    return Run(max_tokens, first - start, last - first, end - start)


async def genchat_run(backend: LlamaCppBackend, max_tokens: int) -> Run:
    request = ChatRequest(
        [Message("user", PROMPT)], GenerationParams(temperature=0.0, max_tokens=max_tokens)
    )
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    async for event in backend.stream(request):
        if isinstance(event, TextDelta):
            last = time.perf_counter()
            first = first or last
        elif isinstance(event, Usage):
            tokens = event.completion_tokens or 0
        elif isinstance(event, Finished):
            assert event.reason == "length", event
    end = time.perf_counter()
    assert tokens == max_tokens, tokens
    return Run(tokens, first - start, last - first, end - start)


def one_process(variant: str, requests: int, max_tokens: int) -> list[dict[str, float]]:
    """Run `requests` replies through one variant in this process (after a warm-up)."""
    path = embedded_model_path()
    assert path is not None
    runs: list[Run] = []
    if variant == "direct":
        import llama_cpp

        llm = llama_cpp.Llama(
            str(path), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=THREADS, verbose=False
        )
        direct_run(llm, 8)
        runs = [direct_run(llm, max_tokens) for _ in range(requests)]
    else:
        backend = LlamaCppBackend(LlamaCppOptions(path=Path(path), n_ctx=N_CTX, n_threads=THREADS))

        async def all_runs() -> list[Run]:
            await genchat_run(backend, 8)
            done = [await genchat_run(backend, max_tokens) for _ in range(requests)]
            await backend.aclose()
            return done

        runs = asyncio.run(all_runs())
    return [
        {"decode_tps": r.decode_tps, "total_tps": r.total_tps, "ttft_s": r.ttft_s} for r in runs
    ]


def measure(rounds: int = 6, requests: int = 3, max_tokens: int = 160) -> dict[str, Any]:
    """Alternate fresh processes of each variant; medians over every request of every round."""
    results: dict[str, list[dict[str, float]]] = {"direct": [], "genchat": []}
    for index in range(rounds):
        order = ["direct", "genchat"] if index % 2 == 0 else ["genchat", "direct"]
        for variant in order:
            out = subprocess.run(
                [sys.executable, __file__, variant, str(requests), str(max_tokens)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[variant] += json.loads(out.strip().splitlines()[-1])
    med = {
        variant: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for variant, rs in results.items()
    }
    return {
        "rounds": rounds,
        "requests_per_round": requests,
        "max_tokens": max_tokens,
        "threads": THREADS,
        "median": med,
        "decode_ratio": med["genchat"]["decode_tps"] / med["direct"]["decode_tps"],
        "total_ratio": med["genchat"]["total_tps"] / med["direct"]["total_tps"],
    }


if __name__ == "__main__":
    if len(sys.argv) == 4:
        print(json.dumps(one_process(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
    else:
        print(json.dumps(measure(), indent=2))
