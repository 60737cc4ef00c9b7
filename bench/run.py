"""Run every benchmark and write the results into BENCHMARKS.md.

    .venv/bin/python bench/run.py            # everything (about 20 minutes)
    .venv/bin/python bench/run.py history    # one section, replaced in place

Absolute times on a shared two-core machine are noise; the ratios, measured side by side in one
run, are what to compare between versions.
"""

from __future__ import annotations

import datetime
import math
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import compare
import history
import leaderboard
import llama_overhead
import lora
import open_long
import remote
import render
import startup

OUT = Path(__file__).parent.parent / "BENCHMARKS.md"


def main(argv: list[str]) -> None:
    """Every section, or only the named ones (spliced into the existing file)."""
    unknown = [name for name in argv if name not in SECTIONS]
    if unknown:
        sys.exit(f"unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    if not argv:
        text = run_all()
        if OUT.exists():  # sections written by hand or by other scripts stay
            text = with_sections_of(text, OUT.read_text(encoding="utf-8"))
    else:
        text = OUT.read_text(encoding="utf-8")
        for name in argv:
            text = splice(text, SECTIONS[name]())
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)


def with_sections_of(text: str, old: str) -> str:
    """`text` and, after it, the `## ` sections of `old` that `text` has no heading for."""
    headings = {part.splitlines()[0] for part in text.split("\n## ")[1:]}
    kept = [part for part in old.split("\n## ")[1:] if part.splitlines()[0] not in headings]
    return "".join(
        [text.rstrip("\n") + "\n", *("\n## " + part.rstrip("\n") + "\n" for part in kept)]
    )


def splice(text: str, section: str) -> str:
    """`text` with the `## ` section of the same heading as `section` replaced by it (or
    `section` added at the end)."""
    heading = section.splitlines()[0]
    parts = text.split("\n## ")
    for index, part in enumerate(parts):
        if index and "## " + part.splitlines()[0] == heading:
            parts[index] = section.removeprefix("## ").rstrip("\n") + "\n"
            return "\n## ".join(parts)
    return text.rstrip("\n") + "\n\n" + section


def history_section() -> str:
    print("history: building 10,000 conversations, then timing…", file=sys.stderr)
    r = history.measure()
    large, small = r["sizes"]["large"], r["sizes"]["small"]
    rows = [
        ("history screen: key to list drawn", large["screen"]["open"], small["screen"]["open"]),
        (
            "history screen: query to matches drawn",
            large["screen"]["search"],
            small["screen"]["search"],
        ),
        (
            "store: the first page of 100",
            large["store"]["first page"],
            small["store"]["first page"],
        ),
    ]
    rows += [
        (f"store: search, {name} (`{query}`)", large["store"][name], small["store"][name])
        for name, query in history.SEARCHES.items()
    ]
    table = "\n".join(
        f"| {label} | {_ms_precise(big)} | {_ms_precise(little)} | {big / little:.1f}× |"
        for label, big, little in rows
    )
    saving = r["saving"]
    saves = ", ".join(
        f"{_ms_precise(t)} at {chars:,} characters" for chars, t in r["one_save_s"].items()
    )
    return f"""## The history at scale

`bench/history.py`, measured {datetime.date.today().isoformat()}. Two databases made with seeded,
generated text: {large["conversations"]:,} conversations of 20 messages ({large["messages"]:,}
messages, {large["mb"]:.0f} MB, built in {large["build_s"]:.0f} s) and {small["conversations"]}
conversations. The screen rows are the real app, headless, from the key (sent as a terminal's
key arrives) to the next frame drawn; a search's time is from the query typed, less the
{history_delay_ms()} the screen waits for typing to stop. Store rows are the call the screen
makes. Best of several runs each.

| | {large["conversations"]:,} conversations | {small["conversations"]} | large / small |
| --- | --- | --- | --- |
{table}

Searches are newest first: FTS5 walks its index in rowid order and stops after 200 matches.
Ordered by relevance (`ORDER BY rank`), a common word took about 350 ms on the large database,
because every match is scored first. The screen's own cost (building and drawing a screen of
100 two-line entries, or 200 matches) is most of what remains, and does not grow with the
database.

**Saving while streaming**: a {saving["tokens"]:,}-token reply streamed at full speed through the
chat screen, with the history saving it against with saving off, alternating, medians of 5:
{saving["on_s"]:.2f} s against {saving["off_s"]:.2f} s, a ratio of **{saving["ratio"]:.3f}**. A
streaming reply is saved at most once a second, on the history thread; one save took
{saves}.
"""


def compare_section() -> str:
    print("compare: three paced remote panes against one (about 2 minutes)…", file=sys.stderr)
    r = compare.measure()
    verdict = "met" if r["ratio"] <= 1.15 else "**not met**"
    return f"""## The compare screen under load

`bench/compare.py`, measured {datetime.date.today().isoformat()}: the fault server, in a process
of its own, streams each reply as {r["tokens"]:,} tokens at {r["rate"]} a second over HTTP to
genchat's openai backend; the real app, headless (200×50), from Enter to every reply on screen;
{r["rounds"]} alternating rounds, medians.

| | time |
| --- | --- |
| the chat screen, one such reply | {r["alone_s"]:.2f} s |
| the compare screen, {r["panes"]} panes at once | {r["together_s"]:.2f} s |

{r["panes"]} panes over one: **{r["ratio"]:.3f}** (the target is at most 1.15: {verdict}).
While the {r["panes"]} panes streamed, a key typed into the prompt every 0.1 s
({r["keys"]} keys) showed after {_ms_precise(r["echo_median_s"])} (median),
{_ms_precise(r["echo_p95_s"])} (95th percentile), {_ms_precise(r["echo_max_s"])} at the most.
"""


def leaderboard_section() -> str:
    print("leaderboard: building 100,000 votes, then timing…", file=sys.stderr)
    r = leaderboard.measure()
    large, small = r["medians"]["large"], r["medians"]["small"]
    big, little = r["sizes"]["large"], r["sizes"]["small"]
    rows = "\n".join(
        f"| {label} | {_ms(large[key])} | {_ms(small[key])} | {large[key] / small[key]:.1f}× |"
        for label, key in (
            ("the store reads the ballots", "read"),
            ("ratings: Bradley–Terry, 1,000 bootstrap rounds, Elo, means", "ratings"),
            ("`genchat leaderboard`, process start-up included", "command"),
        )
    )
    return f"""## The leaderboard over 100,000 votes

`bench/leaderboard.py`, measured {datetime.date.today().isoformat()}: votes between
{r["models"]} models in a real history database, {big:,} against {little:,}, side by side;
medians of {r["rounds"]} rounds.

| | {big:,} votes | {little:,} votes | ratio |
| --- | --- | --- | --- |
{rows}

A bootstrap round is one multinomial draw over the (pair, result) counts, and all rounds are
fitted together by Newton's method, so the bootstrap costs the same at any number of votes;
what grows with the votes is reading them and counting them once.
"""


def open_section() -> str:
    from genchat.tui.widgets.thread import OPEN_TURNS

    print("opening long conversations…", file=sys.stderr)
    r = open_long.measure()
    rows = "\n".join(
        f"| {c['messages']:,} | {_ms(c['median_s'])} | {_ms(c['whole_s'])} | {c['mounted']} "
        f"| {c['rss_growth_mb']:.0f} MB |"
        for c in r.values()
    )
    worst = max(c["median_s"] for c in r.values())
    return f"""## Opening a long conversation

`bench/open_long.py`, measured {datetime.date.today().isoformat()}: the real app, headless
(120×40), opening a saved conversation of each length (seeded text, 15-120 words a message);
from the call to the frame that shows its last message, and to the whole of it loaded, which
the next reply waits for; medians of {open_long.ROUNDS} opens, each length in a fresh process.
Memory is the process's RSS growth over the {open_long.ROUNDS} opens.

| messages | on screen after | whole after | widgets mounted | RSS growth |
| --- | --- | --- | --- | --- |
{rows}

The goal, any conversation on screen within 0.5 s: {_verdict(worst <= 0.5)} ({_ms(worst)} at
worst). Before the chat drew from its session model (`genchat/session/`), every message was
mounted as a widget before the first frame: measured the same day, 100 messages took 0.52 s,
2,000 took 11.9 s and 334 MB, and 100,000 never appeared. Now the last {OPEN_TURNS}
turns are read and drawn first, the rest is read behind the first frame, and widgets are
mounted only near the view (`genchat/tui/widgets/thread.py`). What still grows with the length
is the session itself: every message's text is kept, since the model is sent all of it.
"""


def rendering_section() -> str:
    print("rendering: headless, then in a real terminal…", file=sys.stderr)
    widgets = render.measure_widgets()
    rendering = render.measure()
    in_terminal = render.measure_pty()
    rows = [r for r in rendering.values() if isinstance(r, dict)]
    render_rows = "\n".join(
        f"| {name} | {r['seconds']:.2f} s | {r['tokens_per_s']:.0f} | {_ms(r['longest_stall_s'])}"
        f" | {_ms_or_dash(r['slowest_key_echo_s'])} |"
        for name, r in rendering.items()
        if isinstance(r, dict)
    )
    fours = [r for name, r in rendering.items() if name.endswith(", 4000")]
    echoes = [r["slowest_key_echo_s"] for r in rows if not math.isnan(r["slowest_key_echo_s"])]
    verdict = _verdict(
        max(r["seconds"] for r in fours) <= 1.7
        and max(r["longest_stall_s"] for r in rows) <= 0.25
        and max(echoes, default=0.0) <= 0.1
    )
    pty_rows = "\n".join(
        f"| {name} | {r['seconds']:.2f} s | {_ms_or_dash(r['slowest_key_echo_s'])} |"
        f" {_ms_or_dash(r['max_key_echo_s'])} | {_ms_or_dash(r['median_key_echo_s'])} |"
        f" {r['keys']} |"
        for name, r in in_terminal.items()
        if isinstance(r, dict)
    )
    held = ("markdown mix, 8000", "one paragraph, 4000", "one list, 4000")
    slowest = max(in_terminal[name]["max_key_echo_s"] for name in held)
    code = in_terminal["one code block, 4000"]["max_key_echo_s"]
    ratio = in_terminal["8k over 4k"]
    return f"""## Rendering a streamed reply in the chat screen

`bench/render.py`, measured {datetime.date.today().isoformat()}. First the widgets alone, side
by side: the same {widgets["tokens"]:,}-token Markdown mix streamed at full speed into
Textual's Markdown widget through `Markdown.get_stream()`, and into genchat's reply widget,
each alone in a 120×40 app.

| widget | on screen after |
| --- | --- |
| Textual `Markdown` + `MarkdownStream` | {widgets["textual_s"]:.2f} s |
| genchat `AssistantMessage` (`MarkdownView`) | {widgets["genchat_s"]:.2f} s |

Textual's widget over genchat's: {widgets["ratio"]:.1f}×. docs/architecture.md says why. The
absolute times below follow this shared machine's load; Textual's time above, measured in the
same run, shows how fast it was.

Then the real app, headless (120×40), with the scripted test backend streaming a reply at full
speed, four characters per delta, through the real plugin hook: the time from Enter to the whole
reply on screen, the longest the event loop was blocked, and the slowest echo of a key typed
into the prompt every 0.1 s while the reply streamed (— where the reply was on screen before
the first key); medians of 3. The Markdown mix has a block every ~270 tokens; one paragraph is
prose with inline Markdown and no line end; one list is an item a line.

| reply | on screen after | tokens/s | longest stall | slowest key echo |
| --- | --- | --- | --- | --- |
{render_rows}

8,000 tokens of the mix over 4,000: {rendering["8k over 4k"]:.2f}×. The targets, every
4,000-token reply on screen within about 1.7 s, no stall over 0.25 s and keys echoed within
0.1 s: {verdict}.

**In a real terminal** (`bench/render.py --pty`): the whole client, `python -m genchat`, in a
pseudo-terminal of {render.PTY_COLS}×{render.PTY_ROWS}, on an `openai` profile; the fault
server, in a process of its own, sends the reply over HTTP as fast as the socket takes it
(`fast-echo`: the profile's system prompt, four characters a token). The time from the Enter
to the reply's last word written to the terminal; a key typed into the prompt every 0.1 s
while the reply streams, timed until the terminal shows it. Medians of 3, each in a fresh
client; the slowest key of each run (median), of all runs, and the median key.

| reply | on screen after | slowest key echo | slowest of all | median key echo | keys |
| --- | --- | --- | --- | --- | --- |
{pty_rows}

8,000 tokens of the mix over 4,000: **{ratio:.2f}×** (the goal is at most 2.0×:
{_verdict(ratio <= 2.0)}). The slowest key echo of all, at any point of the mix's 8,000 tokens,
the paragraph and the list: **{_ms_or_dash(slowest)}** (the goal is at most 0.1 s:
{_verdict(slowest <= 0.1)}); of the code block, {_ms_or_dash(code)}.

A key shows once the screen is drawn again after the prompt took it. While a reply is drawn, the
event loop takes turns between appends (9-25 ms each for the mix, of up to 2,000 characters)
and redrawing the screen (10-40 ms at 160×50: layout, then every visible widget's lines, the
reply's, its border's and the scroll bar's among them). The render loop appends nothing while a
typed key waits for its frame (`genchat/tui/widgets/echo.py`), so a key waits for the append
under way, the frame that comes next, and its own. Two waits were Textual's and Python's: a
frame asked for just after one is drawn comes one to two of Textual's periods later, so genchat
draws at up to 120 frames a second rather than 60; and the threads that read and write the
terminal get the GIL from an append only every 5 ms, so genchat hands it over every
millisecond. Side by side, in alternating runs of the mix's 8,000 tokens, the two together cut
the slowest key of a run from about 60 ms to about 40 ms. A long code block costs the most:
while it is the last block, each append still goes over all its lines (each highlighted and
wrapped once), to cut them into screen lines again.
"""


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _ms_or_dash(seconds: float) -> str:
    return "—" if math.isnan(seconds) else _ms(seconds)


def history_delay_ms() -> str:
    from genchat.tui.screens.history import SEARCH_DELAY_S

    return _ms(SEARCH_DELAY_S)


def measure_startup() -> dict[str, Any]:
    print("start-up…", file=sys.stderr)
    return startup.measure(rounds=11)  # each round is about 2 s; the ratios settle by 11


def startup_section(boot: dict[str, Any] | None = None) -> str:
    boot = boot or measure_startup()
    ready, over = boot["ready_s"], boot["ready_over_bare"]
    ready_rows = "\n".join(f"| {name} | {_ms(ready[name])} | {over[name]:.2f}× |" for name in ready)
    worst = max(value for name, value in over.items() if name.startswith("genchat"))
    times, ask_over = boot["median_s"], boot["ask_first_token_over_python"]
    imports = boot["first_frame_imports"]
    import_rows = "\n".join(
        f"| {package} | "
        + " | ".join(f"{r['ms_by_package'].get(package, 0):.0f} ms" for r in imports.values())
        + " |"
        for package in _top_packages(imports)
    )
    totals = " | ".join(f"**{r['total_ms']:.0f} ms**" for r in imports.values())
    phases = boot["phases_s"]
    phase_names = list(phases)
    every_phase = list(dict.fromkeys(name for times in phases.values() for name in times))
    phase_rows = "\n".join(
        f"| {phase} | "
        + " | ".join(_ms(times[phase]) if phase in times else "—" for times in phases.values())
        + " |"
        for phase in every_phase
    )
    heavy = "; ".join(f"{name}: {_list(r['heavy'])}" for name, r in imports.items())
    return f"""## Start-up

`bench/startup.py`: each command in a fresh process, in a pseudo-terminal of 160×50,
alternating, so that the ratios are measured side by side: each ratio is the median of the ratios
within a round (one run just after the other), of {boot["rounds"]} rounds. "Ready" is
the first frame that shows a key typed into the prompt (one is typed every 10 ms from launch,
with the terminal's own echo off): the screen is drawn and takes keys. The yardstick is a bare
Textual app with a `TextArea`, a `Static` and a `Footer`.

| to a ready screen | median | over the bare app |
| --- | --- | --- |
{ready_rows}

The goal is at most 1.3× the bare app: {"met" if worst <= 1.3 else "**not met**"} ({worst:.2f}× at
the worst). Before this work, genchat imported every screen, the history store, markdown-it,
Pygments and numpy before its first frame (3.4× a bare app, measured in tmux). The figures vary
about 1.5-fold with the machine's load between runs; the ratios less.

Where the time goes, timed inside the process, headless (medians of {boot["rounds"]}):

| phase | {" | ".join(phase_names)} |
| --- | {" | ".join("---" for _ in phase_names)} |
{phase_rows}

genchat draws its chat screen from the config file's TOML alone (its keymap and default
profile), and validates the config just after that frame, in a thread while the prompt takes
keys: pydantic, the config's models, the plugins and the profiles (the last row; the second
yardstick above is the bare app validating one pydantic model first, as genchat did before
its first frame until this change). Keys pressed meanwhile wait for the profiles and then run
in the order they were typed; a config that is not valid ends the app with its problems and
exit code 2, a moment after the screen appeared.

| command | median | over bare Python |
| --- | --- | --- |
| `python -c pass` | {_ms(times["python"])} | 1.0 |
| `genchat --help` | {_ms(times["help"])} | {boot["help_over_python"]:.1f} |
| `genchat ask "Hi"`, to the first token | {_ms(times["ask_first_token"])} | {ask_over:.1f} |

`genchat --help` imports no heavy library ({_list(boot["help_imports"])}). The goal is at most 2×
bare Python: {_verdict(boot["help_over_python"] <= 2.0)}. The parser adds the arguments of only
the commands that the command line names (`genchat/cli/parser.py`), so the help builds none,
and imports neither `logging` nor the vote modules whose defaults `leaderboard --help` shows;
what it adds to bare Python is argparse, its help formatting, and genchat's table of commands.
`genchat ask` imports {_list(boot["ask_imports"])}: llama_cpp and numpy only when the model
loads, in the worker thread.

What the chat screen imports before its first frame (`python -X importtime`, each package's own
import code, headless), by package; the rest (Markdown, Pygments, httpx, the history store, the
other screens) is imported in a thread once the frame is drawn (`genchat/tui/warm_up.py`):

| package | {" | ".join(imports)} |
| --- | {" | ".join("---" for _ in imports)} |
{import_rows}
| all | {totals} |

Heavy libraries before the first frame: {heavy}. The embedded model, and llama.cpp, load when
the first message needs them.
"""


def _top_packages(imports: dict[str, dict[str, Any]], count: int = 8) -> list[str]:
    """The packages that take longest to import in any of the runs."""
    worst: dict[str, float] = {}
    for run in imports.values():
        for package, ms in run["ms_by_package"].items():
            worst[package] = max(worst.get(package, 0.0), ms)
    return sorted(worst, key=lambda package: -worst[package])[:count]


SECTIONS: dict[str, Callable[[], str]] = {
    "rendering": rendering_section,
    "history": history_section,
    "compare": compare_section,
    "leaderboard": leaderboard_section,
    "startup": startup_section,
    "open": open_section,
}
"""Sections that can be measured on their own."""


def run_all() -> str:
    print("llama.cpp backend overhead…", file=sys.stderr)
    overhead = llama_overhead.measure()
    print("LoRA: peft, llama.cpp with the converted adapter, loading…", file=sys.stderr)
    adapters = lora.measure()
    tps = adapters["tokens_per_s"]
    peft_ratio, q4_ratio = adapters["genchat_over_bare"], adapters["q4_over_peft"]
    cold, warm = adapters["cold_load_s"], adapters["warm_load_s"]
    again = adapters["again_load_s"]
    boot = measure_startup()
    print("remote streaming (about 5 minutes: the paced runs take their time)…", file=sys.stderr)
    streams = remote.measure()
    overhead_remote = streams["overhead"]
    paced_rows = "\n".join(
        f"| {size:,} | {r['seconds']:.1f} s | {r['cpu_s']:.2f} s | {r['cpu_s_per_1000']:.2f} s |"
        f" {r['cpu_share']:.0%} |"
        for size, r in streams["paced"].items()
    )
    per_1000 = [r["cpu_s_per_1000"] for r in streams["paced"].values()]
    med = overhead["median"]
    direct, ours = med["direct"], med["genchat"]
    text = f"""# Benchmarks

Written by `bench/run.py` on {datetime.date.today().isoformat()}: {platform.machine()},
{_cpus()} CPUs, Python {platform.python_version()}. Ratios are measured side by side in one
run; absolute numbers are only for orientation. Run `.venv/bin/python bench/run.py` to redo.

## The llama.cpp backend against llama-cpp-python directly

`bench/llama_overhead.py`: the embedded SmolLM2-135M-Instruct Q4_1, the same prompt,
greedy sampling, {overhead["max_tokens"]} tokens per reply, n_ctx {llama_overhead.N_CTX},
{overhead["threads"]} threads; {overhead["rounds"]} rounds of {overhead["requests_per_round"]}
replies, alternating fresh processes of each variant; medians.

| | direct `create_chat_completion` | genchat `LlamaCppBackend.stream` | genchat / direct |
| --- | --- | --- | --- |
{_row("decoding, tokens/s", direct["decode_tps"], ours["decode_tps"], overhead["decode_ratio"])}
{_row("whole reply, tokens/s", direct["total_tps"], ours["total_tps"], overhead["total_ratio"])}
| time to first token | {_ms(direct["ttft_s"])} | {_ms(ours["ttft_s"])} | |

The target is a ratio of at least 0.97. genchat starts a worker thread for each reply, and
llama.cpp builds an OpenMP thread team for each new calling thread: the likely source of the few
extra milliseconds before the first token.

## LoRA adapters

`bench/lora.py`: the embedded SmolLM2-135M-Instruct with the demo adapter `tldr` active, the
same prompt, greedy, {adapters["max_tokens"]} tokens at most ({adapters["tokens"]} produced);
{adapters["rounds"]} rounds, each variant in a fresh process, alternating; medians of decoding
speed (tokens after the first, over the time since the first).

| path | tokens/s | ratio |
| --- | --- | --- |
| bare transformers: `model.generate` in a thread, `TextIteratorStreamer` | {tps["bare"]:.1f} | 1 |
| genchat `peft` backend, same model object | {tps["genchat"]:.1f} | **{peft_ratio:.3f}** of bare |
| genchat `llama-cpp`: Q4_1 file, converted adapter | {tps["q4"]:.1f} | **{q4_ratio:.2f}×** peft |

The peft backend's target is at least 0.95 of bare transformers. The 4-bit path is faster
because decoding one token reads every weight once: about 540 MB in float32 against about 85 MB
in Q4_1.

Loading the base from the GGUF file, each in a fresh process with torch already imported:

| load | time |
| --- | --- |
| cold: dequantised by transformers, then written to the cache | {cold:.1f} s |
| warm: from the safetensors cache, median of {adapters["rounds"]} | {warm:.1f} s |
| again in the same process (the weights alone) | {again:.2f} s |

The warm load in a fresh process is mostly transformers importing its model and tokenizer code
on first use; the weights themselves take the last row's time. Cold over warm:
{cold / warm:.0f}×.

{startup_section(boot)}
{rendering_section()}
## Remote streaming

`bench/remote.py`, against the project's fault server (`tests/support/fault_server.py`) run in a
process of its own, so that its work is not counted.

**The openai backend against a bare httpx loop**, each consuming the same
{overhead_remote["tokens"]:,}-token stream sent as fast as the socket takes it (one word per
SSE event); {overhead_remote["rounds"]} alternating rounds, medians.

| consumer | tokens/s |
| --- | --- |
| bare: `httpx` `aiter_lines`, `json.loads`, the text | {overhead_remote["bare_tps"]:,.0f} |
| genchat `OpenAIBackend.stream` | {overhead_remote["genchat_tps"]:,.0f} |

genchat over the bare loop: **{overhead_remote["ratio"]:.2f}** (the target is at least 0.9).
genchat takes each read's lines at once and sends what arrived together as one event; the bare
loop steps through an async generator per line.

**The chat screen fed by the real HTTP stream**, headless (120×40), an `openai` profile. At full
speed, 4,000 tokens: on screen after {streams["fast_4000"]["seconds"]:.2f} s
({streams["fast_4000"]["tokens_per_s"]:,.0f} tokens/s). At a paced {remote.PACED_RATE} tokens a
second (a fast real model), the process's CPU time until the reply is on screen:

| tokens | wall time | CPU time | CPU per 1,000 tokens | CPU busy |
| --- | --- | --- | --- | --- |
{paced_rows}

CPU per 1,000 tokens from the shortest to the longest reply: {per_1000[0]:.2f} s to
{per_1000[-1]:.2f} s. The first seconds of a reply, before it fills the screen and scrolls, cost
less, which favours short replies; the CPU busy in each {remote.WINDOW_S:.0f} s of the
{max(streams["paced"]):,}-token reply shows whether the cost per token grows with the reply:

{_windows(streams["paced"][max(streams["paced"])]["windows"])}

{history_section()}
{compare_section()}
{leaderboard_section()}"""
    return text


def _windows(shares: list[float]) -> str:
    """CPU shares as bars on a scale of 0-100%, to be seen at a glance, then as numbers."""
    bars = "▁▂▃▄▅▆▇█"
    return (
        "`"
        + "".join(bars[min(len(bars) - 1, round(share * (len(bars) - 1)))] for share in shares)
        + "` "
        + ", ".join(f"{share:.0%}" for share in shares)
    )


def _row(label: str, direct: float, ours: float, ratio: float) -> str:
    return f"| {label} | {direct:.1f} | {ours:.1f} | **{ratio:.3f}** |"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _ms_precise(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else _ms(seconds)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _list(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"


if __name__ == "__main__":
    main(sys.argv[1:])
