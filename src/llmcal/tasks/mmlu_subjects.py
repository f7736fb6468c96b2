"""The 57 MMLU subjects and the category each belongs to.

The grouping is lm-evaluation-harness's (the ``tag`` of each ``mmlu/default/mmlu_<subject>.yaml``): 19 STEM,
13 humanities, 12 social-science and 13 other subjects. Per-category results are only comparable with
published numbers if the grouping is the same, so it is spelled out here rather than derived.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from llmcal.errors import InputError

__all__ = ["MMLU_CATEGORIES", "MMLU_SUBJECTS", "MMLUCategory", "mmlu_category"]

MMLUCategory = Literal["stem", "humanities", "social_sciences", "other"]

MMLU_CATEGORIES: Final[tuple[MMLUCategory, ...]] = ("stem", "humanities", "social_sciences", "other")
"""The four categories, in the order reports list them."""

MMLU_SUBJECTS: Final[Mapping[str, MMLUCategory]] = MappingProxyType(
    {
        "abstract_algebra": "stem",
        "anatomy": "stem",
        "astronomy": "stem",
        "business_ethics": "other",
        "clinical_knowledge": "other",
        "college_biology": "stem",
        "college_chemistry": "stem",
        "college_computer_science": "stem",
        "college_mathematics": "stem",
        "college_medicine": "other",
        "college_physics": "stem",
        "computer_security": "stem",
        "conceptual_physics": "stem",
        "econometrics": "social_sciences",
        "electrical_engineering": "stem",
        "elementary_mathematics": "stem",
        "formal_logic": "humanities",
        "global_facts": "other",
        "high_school_biology": "stem",
        "high_school_chemistry": "stem",
        "high_school_computer_science": "stem",
        "high_school_european_history": "humanities",
        "high_school_geography": "social_sciences",
        "high_school_government_and_politics": "social_sciences",
        "high_school_macroeconomics": "social_sciences",
        "high_school_mathematics": "stem",
        "high_school_microeconomics": "social_sciences",
        "high_school_physics": "stem",
        "high_school_psychology": "social_sciences",
        "high_school_statistics": "stem",
        "high_school_us_history": "humanities",
        "high_school_world_history": "humanities",
        "human_aging": "other",
        "human_sexuality": "social_sciences",
        "international_law": "humanities",
        "jurisprudence": "humanities",
        "logical_fallacies": "humanities",
        "machine_learning": "stem",
        "management": "other",
        "marketing": "other",
        "medical_genetics": "other",
        "miscellaneous": "other",
        "moral_disputes": "humanities",
        "moral_scenarios": "humanities",
        "nutrition": "other",
        "philosophy": "humanities",
        "prehistory": "humanities",
        "professional_accounting": "other",
        "professional_law": "humanities",
        "professional_medicine": "other",
        "professional_psychology": "social_sciences",
        "public_relations": "social_sciences",
        "security_studies": "social_sciences",
        "sociology": "social_sciences",
        "us_foreign_policy": "social_sciences",
        "virology": "other",
        "world_religions": "humanities",
    }
)
"""Subject (the ``cais/mmlu`` config name and the rows' ``subject`` value) -> category."""


def mmlu_category(subject: str) -> MMLUCategory:
    """The category of an MMLU subject.

    Args:
        subject: A subject name as ``cais/mmlu`` spells it, e.g. ``"college_physics"``.

    Raises:
        InputError: If ``subject`` is not one of the 57; the message suggests close matches.

    Examples:
        >>> mmlu_category("college_physics")
        'stem'
        >>> mmlu_category("jurisprudence")
        'humanities'
    """
    try:
        return MMLU_SUBJECTS[subject]
    except KeyError:
        message = f"Unknown MMLU subject {subject!r}."
        suggestions = difflib.get_close_matches(subject, list(MMLU_SUBJECTS), n=3)
        if suggestions:
            message += f" Did you mean: {', '.join(suggestions)}?"
        raise InputError(message) from None
