"""The sentences and prompts of the knowledge world, and its word-level tokenizer.

Every text is a whitespace-separated sequence of vocabulary words, so a word-level tokenizer covers it
exactly and option values of several words (``Buenos Aires``) are several tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from llmcal.world.generator import Entity, World

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "BOS",
    "build_tokenizer",
    "fact_prompt",
    "fact_sentence",
    "mention_sentence",
    "options_context",
    "pretraining_sentences",
]

BOS, PAD, UNK = "[BOS]", "[PAD]", "[UNK]"
_LETTERS = "ABCD"


def fact_prompt(world: World, entity: Entity, attribute: int) -> str:
    """The fact-completion prompt: ``the job of Kalo is`` (the answer follows as a continuation)."""
    return f"the {world.attributes[attribute][0]} of {entity.name} is"


def fact_sentence(world: World, entity: Entity, attribute: int) -> str:
    """A pretraining fact: ``the job of Kalo is doctor .``."""
    return f"{fact_prompt(world, entity, attribute)} {world.value(entity, attribute)} ."


def mention_sentence(entity: Entity) -> str:
    """A sentence naming an entity without any fact, so unknown names are not unknown tokens."""
    return f"we met {entity.name} at a party ."


def options_context(options: Iterable[str]) -> str:
    """The options shown before a multiple-choice question: ``Q : A ) doctor B ) pilot ... ;``."""
    listed = " ".join(f"{letter} ) {option}" for letter, option in zip(_LETTERS, options, strict=False))
    return f"Q : {listed} ;"


def pretraining_sentences(world: World) -> list[tuple[str, int]]:
    """``(sentence, copies per pass)``: each name mentioned once, known entities' facts by popularity."""
    sentences = [(mention_sentence(entity), 1) for entity in world.entities]
    for entity in world.entities:
        if entity.known:
            sentences.extend(
                (fact_sentence(world, entity, attribute), entity.popularity)
                for attribute in range(len(world.attributes))
            )
    return sentences


def build_tokenizer(world: World) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over every word the world uses; it prepends ``[BOS]`` like Llama's does."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = [BOS, PAD, UNK, "the", "of", "is", ".", "we", "met", "at", "a", "party", "Q", ":", ";", ")"]
    words += list(_LETTERS) + [entity.name for entity in world.entities]
    for name, values in world.attributes:
        words.append(name)
        for value in values:
            words.extend(value.split())
    vocabulary = {word: index for index, word in enumerate(dict.fromkeys(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, vocabulary[BOS])]
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=BOS, pad_token=PAD, unk_token=UNK
    )
