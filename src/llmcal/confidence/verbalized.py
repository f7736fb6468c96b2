"""Reading a probability the model wrote: verbalised confidence (Tian et al. 2023; Xiong et al. 2024).

The model is asked for a probability between 0.0 and 1.0 (:func:`llmcal.tasks.prompts.verbal_prompt`)
and writes some text. The first number in it is the answer: a number from 0 to 1 as it is (a decimal
comma is read as a point), a percentage (``"80%"``) divided by 100. Anything else is a parse failure with
its reason (no number; a negative number; a number above 1 without a percent sign, which could mean
either scale; a percentage above 100). Failures are never dropped silently: a summary counts them per
method (:mod:`llmcal.evaluation`).

Examples:
    >>> read_verbal_confidence(" 0.8")
    VerbalConfidence(value=0.8, problem=None)
    >>> read_verbal_confidence(" 85% sure").value
    0.85
    >>> read_verbal_confidence(" I am not sure").problem
    'no number'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["VerbalConfidence", "read_verbal_confidence"]

# A number not glued to a word (v2), possibly negative, with a decimal point or comma (0,8), then % or
# "percent".
_NUMBER = re.compile(r"(?<![\w.])(-?)(\d+(?:[.,]\d+)?|\d+\.|\.\d+)\s*(%|percent\b)?", re.IGNORECASE)


@dataclass(frozen=True)
class VerbalConfidence:
    """What a verbalised answer says: a probability, or why none could be read.

    Attributes:
        value: The probability in [0, 1], or ``None`` when the text gives none.
        problem: Why there is no value (``None`` when there is one).
    """

    value: float | None
    problem: str | None = None

    @property
    def reason(self) -> str | None:
        """The kind of problem, without the number that showed it (``"a negative number"``): for counts."""
        return None if self.problem is None else self.problem.split(" (")[0]


def read_verbal_confidence(text: str) -> VerbalConfidence:
    """The probability ``text`` states (see the module docstring for the rules)."""
    match = _NUMBER.search(text)
    if match is None:
        return VerbalConfidence(None, "no number")
    sign, digits, percent = match.groups()
    if sign:
        return VerbalConfidence(None, f"a negative number (-{digits})")
    number = float(digits.replace(",", "."))
    if percent:
        if number > 100:
            return VerbalConfidence(None, f"a percentage above 100 ({match.group(0).strip()})")
        return VerbalConfidence(number / 100)
    if number > 1:
        return VerbalConfidence(None, f"a number above 1 without a percent sign ({digits})")
    return VerbalConfidence(number)
