"""A synthetic world of made-up people with attributes, and which of their facts a model gets to read.

Every entity has one value per attribute. A "known" subset has its facts written into the pretraining
corpus, each entity repeated 1, 2, 4 or 8 times per pass (a long tail of popularity, as real facts have);
the other entities appear only by name. Entities are split into fine-tuning, calibration and test sets with
no entity in two sets, and each split holds known and unknown entities in the same proportion.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llmcal.errors import InputError
from llmcal.jsonl import json_text

__all__ = ["ATTRIBUTES", "Entity", "PretrainConfig", "World", "WorldConfig", "generate_world"]

Split = Literal["train", "calibration", "test"]
SPLITS: tuple[Split, ...] = ("train", "calibration", "test")

# Twelve values per attribute. Some hometowns take several words, so option lengths differ and the
# length-normalised (mean) and min-token confidence methods differ from the plain sum.
ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("job", ("doctor", "lawyer", "farmer", "pilot", "baker", "teacher", "painter", "sailor", "nurse",
             "chemist", "poet", "miner")),
    ("hometown", ("Paris", "Lagos", "Lima", "Oslo", "Cairo", "Delhi", "Buenos Aires", "Cape Town",
                  "Rio de Janeiro", "Kuala Lumpur", "Addis Ababa", "Tel Aviv")),
    ("colour", ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown", "black", "white",
                "grey", "teal")),
    ("university", ("Harvard", "Oxford", "Stanford", "Yale", "Cambridge", "Princeton", "Cornell", "Columbia",
                    "Duke", "Caltech", "Berkeley", "Toronto")),
    ("sport", ("tennis", "golf", "rugby", "chess", "boxing", "hockey", "cricket", "soccer", "judo", "rowing",
               "karate", "fencing")),
)  # fmt: skip
_SYLLABLES = (
    "ka", "lo", "mi", "zu", "ter", "vin", "dra", "bel", "nor", "sha", "qui", "ran", "tho", "gel", "mar",
    "pix", "zor", "lek", "fen", "dul", "bri", "sto", "wym", "jax", "pol", "rik", "sen", "tav", "ul", "om",
    "ez", "ir",
)  # fmt: skip


@dataclass(frozen=True)
class PretrainConfig:
    """The tiny GPT-2 and how long it is pretrained.

    Attributes:
        n_layer: Transformer blocks.
        n_embd: Hidden size.
        n_head: Attention heads.
        context: Tokens per packed training row.
        batch_size: Rows per step.
        learning_rate: Peak AdamW learning rate (warm-up, then cosine decay over ``max_passes``).
        recall_target: Stop once this fraction of known facts is recalled (12-way, from the fact prompt).
        min_passes: Passes before recall is first checked.
        max_passes: Passes at most, whatever the recall (memorisation comes in a late jump, so the
            stopping rule is recall, not a step count; this only bounds the time).
    """

    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    context: int = 32
    batch_size: int = 32
    learning_rate: float = 3e-3
    recall_target: float = 0.85
    min_passes: int = 8
    max_passes: int = 40


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a world and its pretrained model (its hash names the cache entry).

    Attributes:
        n_entities: Made-up people.
        n_attributes: Attributes per person (at most ``len(ATTRIBUTES)``).
        known_fraction: Share of entities whose facts are in the pretraining corpus.
        popularity: Copies per pass a known entity's facts can get (drawn uniformly per entity).
        split_fractions: Shares of entities in the train / calibration / test splits.
        seed: Seed of the world, the options and the model initialisation.
        pretrain: Model and pretraining settings.
    """

    n_entities: int = 600
    n_attributes: int = 4
    known_fraction: float = 0.6
    popularity: tuple[int, ...] = (1, 2, 4, 8)
    split_fractions: tuple[float, float, float] = (0.45, 0.15, 0.40)
    seed: int = 0
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def validate(self) -> WorldConfig:
        """Checks the settings; returns ``self``.

        Raises:
            InputError: Naming the setting that is out of range.
        """
        if not 1 <= self.n_attributes <= len(ATTRIBUTES):
            raise InputError(f"n_attributes must be in 1..{len(ATTRIBUTES)}; got {self.n_attributes}.")
        if self.n_entities < 12:
            raise InputError(f"n_entities must be at least 12; got {self.n_entities}.")
        if not 0.0 < self.known_fraction < 1.0:
            raise InputError(f"known_fraction must be in (0, 1); got {self.known_fraction}.")
        if abs(sum(self.split_fractions) - 1.0) > 1e-9 or min(self.split_fractions) <= 0.0:
            raise InputError(f"split_fractions must be positive and sum to 1; got {self.split_fractions}.")
        return self

    def digest(self) -> str:
        """A short stable hash of the whole configuration (cache key)."""
        text = json_text(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Entity:
    """One made-up person.

    Attributes:
        name: A unique made-up name (one word).
        values: Index of the entity's value for each attribute.
        known: Whether the entity's facts are in the pretraining corpus.
        popularity: Copies of each fact per pretraining pass (0 for unknown entities).
        split: The split the entity's questions belong to.
    """

    name: str
    values: tuple[int, ...]
    known: bool
    popularity: int
    split: Split


@dataclass(frozen=True)
class World:
    """A generated world: its config, attributes and entities."""

    config: WorldConfig
    attributes: tuple[tuple[str, tuple[str, ...]], ...]
    entities: tuple[Entity, ...]

    def value(self, entity: Entity, attribute: int) -> str:
        """The text of ``entity``'s value for ``attribute``."""
        return self.attributes[attribute][1][entity.values[attribute]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (config, attributes, entities)."""
        return {
            "config": asdict(self.config),
            "attributes": [{"name": name, "values": list(values)} for name, values in self.attributes],
            "entities": [asdict(entity) for entity in self.entities],
        }


def _names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize())
    ordered = sorted(names)
    rng.shuffle(ordered)
    return ordered


def generate_world(config: WorldConfig) -> World:
    """Generates the world described by ``config`` (deterministic in ``config.seed``)."""
    config.validate()
    rng = random.Random(config.seed)
    attributes = ATTRIBUTES[: config.n_attributes]
    names = _names(rng, config.n_entities)
    order = list(range(config.n_entities))
    rng.shuffle(order)
    bounds = [round(sum(config.split_fractions[:i]) * config.n_entities) for i in range(4)]
    split_of: dict[int, Split] = {}
    known: set[int] = set()
    for index, split in enumerate(SPLITS):
        members = order[bounds[index] : bounds[index + 1]]
        for entity in members:
            split_of[entity] = split
        # The same share of known entities in every split, so each split has both kinds.
        known.update(members[: round(config.known_fraction * len(members))])
    entities = tuple(
        Entity(
            name=names[index],
            values=tuple(rng.randrange(len(values)) for _, values in attributes),
            known=index in known,
            popularity=rng.choice(config.popularity) if index in known else 0,
            split=split_of[index],
        )
        for index in range(config.n_entities)
    )
    return World(config, attributes, entities)
