"""Every backend against the backend contract (the embedded model, LoRA, remote APIs on real
servers and the fault server), and plugins: loading, isolation and faults."""
