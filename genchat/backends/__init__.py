"""Backends: the contract every backend keeps, and the built-in backends, each registered as a
plugin. Imports only the vocabulary (`genchat.chat`, `errors`, `untrusted`, `logs`, `paths`)
and the plugin hooks (import-linter holds this).

- `base`: the `Backend` contract, `BackendOptions`, `ModelInfo`; `thread_stream` runs blocking
  generation in a thread; `shared_cache` keeps one loaded model per key for both local
  backends.
- `local/`: models run in this process: llama.cpp (GGUF) and transformers + peft, and loading
  them.
- `remote/`: APIs over HTTP: what they share (`base`), stream decoding (`decoding`), httpx
  (`http`, imported on first use), and OpenAI-compatible, Anthropic and Ollama.
- `lora/`: LoRA adapters apart from any one backend: checking and choosing them, converting
  peft's to GGUF for llama.cpp, and the demo adapter that ships in the package.
- `llama_cpp` and `adapters` here are the first import paths of two modules plugins use,
  kept so that those plugins keep loading.
"""
