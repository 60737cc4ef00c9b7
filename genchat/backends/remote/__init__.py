"""Remote APIs over HTTP: `base` (the options and the base class every API shares, and where a
key may go), `decoding` (streamed responses as events), `http` (httpx, imported when a backend
first connects), and `openai`, `anthropic` and `ollama`."""
