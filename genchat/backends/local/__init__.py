"""Models run in this process: `llama_cpp` (GGUF through llama-cpp-python, loaded by
`llama_loading`, read by `gguf_header`) and `peft` (transformers + peft, loaded by
`hf_loading`). Heavy libraries are imported on the first load, never at start-up."""
