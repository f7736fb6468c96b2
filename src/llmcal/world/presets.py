"""Named world configurations: ``micro`` for tests (seconds), ``quick`` (a smaller world), ``default``."""

from __future__ import annotations

from llmcal.errors import InputError
from llmcal.world.generator import PretrainConfig, WorldConfig

__all__ = ["PRESETS", "preset"]

PRESETS: dict[str, WorldConfig] = {
    # Seconds on a laptop: recall well above chance, not high. For tests.
    "micro": WorldConfig(
        n_entities=60,
        n_attributes=2,
        pretrain=PretrainConfig(n_layer=1, n_embd=64, n_head=2, batch_size=8, learning_rate=5e-3,
                                recall_target=0.6, min_passes=6, max_passes=40),
    ),
    # A smaller world (200 people x 3 attributes) for a demo in under a minute: a higher learning rate
    # over a shorter schedule reaches the recall target in fewer passes.
    "quick": WorldConfig(
        n_entities=200,
        n_attributes=3,
        pretrain=PretrainConfig(recall_target=0.8, max_passes=24, learning_rate=5e-3),
    ),
    # The full story, a few minutes on 2 CPU cores: 600 people x 4 attributes.
    "default": WorldConfig(),
}  # fmt: skip


def preset(name: str, *, seed: int = 0) -> WorldConfig:
    """The named preset with ``seed`` (which changes the world, the options and the initialisation)."""
    if name not in PRESETS:
        raise InputError(f"Unknown world preset {name!r}; choose one of {', '.join(PRESETS)}.")
    base = PRESETS[name]
    return WorldConfig(**{**base.__dict__, "seed": seed}).validate()
