"""A natural-language-inference model: does one text entail another? For grouping answers by meaning.

Any local (or hub) sequence-classification model whose labels name an entailment class serves (DeBERTa
MNLI, RoBERTa-large-MNLI, ...): the entailment label is the one whose name starts with ``entail``, case
aside. A pair entails when that label is the model's argmax, as lm-polygraph and Kuhn et al. (2023) read
it. Weights load from safetensors and no model code runs unless ``trust_remote_code`` is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcal.errors import InputError

__all__ = ["NliModel", "entailment_label"]


def entailment_label(config: Any, source: str) -> int:
    """The index of ``config``'s entailment label.

    Raises:
        InputError: If no label's name starts with ``entail``, naming the labels found.
    """
    labels = dict(getattr(config, "id2label", None) or {})
    for index, name in sorted(labels.items(), key=lambda pair: int(pair[0])):
        if str(name).strip().lower().startswith("entail"):
            return int(index)
    raise InputError(
        f"{source}: an NLI model needs an entailment label; its labels are "
        f"{', '.join(repr(str(name)) for name in labels.values()) or 'not named'}. Give a model trained for "
        "natural language inference (its config's id2label names 'entailment'), e.g. an MNLI model.",
        parameter="nli",
    )


class NliModel:
    """Judges entailment between pairs of texts with a sequence-classification model.

    Args:
        name: A local folder or hub id.
        device: Where it runs.
        batch_size: Pairs per forward pass.
        trust_remote_code: Let code shipped with the model run.

    Raises:
        InputError: If the model does not load or has no entailment label.
    """

    def __init__(
        self, name: str, *, device: str = "cpu", batch_size: int = 32, trust_remote_code: bool = False
    ) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        try:
            config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as error:
            raise InputError(
                f"Could not load the NLI model {name!r} ({' '.join(str(error).split())[:160]}); give a "
                "folder or hub id of a sequence-classification model trained for NLI.",
                parameter="nli",
            ) from None
        self.entailment = entailment_label(config, name)
        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            name, trust_remote_code=trust_remote_code, use_safetensors=True
        ).to(device)
        self.model.eval()
        self.device = torch.device(device)
        self.batch_size = batch_size

    def entails(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """For each (premise, hypothesis), whether the model's most likely label is entailment."""
        import torch

        verdicts: list[bool] = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            encoded = self.tokenizer(
                [premise for premise, _ in batch],
                [hypothesis for _, hypothesis in batch],
                padding=True,
                truncation=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**encoded).logits
            verdicts.extend(bool(label == self.entailment) for label in logits.argmax(dim=-1).tolist())
        return verdicts
