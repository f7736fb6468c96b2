"""Tiny GPT-2 models with a locally trained byte-level BPE tokenizer, saved as standard HF directories.

Test support, not shipped: wherever tests and benchmarks need a real causal LM without network access.
The directory loads with ``transformers.AutoModelForCausalLM`` / ``AutoTokenizer`` and with
lm-evaluation-harness's ``hf`` model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["build_tiny_gpt2"]

_EOS = "<|endoftext|>"


def build_tiny_gpt2(
    out_dir: str | Path,
    corpus: Iterable[str],
    *,
    vocab_size: int = 512,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 512,
    model_vocab_size: int | None = None,
    seed: int = 0,
) -> Path:
    """Trains a byte-level BPE tokenizer on ``corpus``, builds a randomly initialised GPT-2 and saves both.

    Args:
        out_dir: Directory to write (``config.json``, ``model.safetensors``, tokenizer files).
        corpus: Texts the tokenizer is trained on.
        vocab_size: Target BPE vocabulary size (byte-level, so any text stays encodable).
        n_layer: Transformer blocks.
        n_embd: Hidden size.
        n_head: Attention heads.
        n_positions: Longest sequence.
        model_vocab_size: Size of the model's embedding and output layers, if larger than the tokenizer's
            vocabulary (padded, as many LLMs pad theirs); lets benchmarks use a realistic output size.
        seed: Seed of the weight initialisation (the same seed gives the same weights).

    Returns:
        ``out_dir`` as a path.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=_EOS,
        eos_token=_EOS,
        unk_token=_EOS,
        model_max_length=n_positions,
    )
    fast.save_pretrained(out)

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=max(len(fast), model_vocab_size or 0),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(out, safe_serialization=True)
    return out
