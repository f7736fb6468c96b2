"""The synthetic knowledge world: tiny models and tokenizers built locally, on a CPU."""
