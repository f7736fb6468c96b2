"""``llmcal study``: the three papers' claims decided on real LLMs, with the power to be wrong.

:mod:`~llmcal.study.settings` says what runs (torch-free); :mod:`~llmcal.study.run` runs it cell by cell
(:mod:`~llmcal.study.prevention`, :mod:`~llmcal.study.detector`, :mod:`~llmcal.study.restore`), and
:mod:`~llmcal.study.verdicts` decides each claim by the rules of :mod:`~llmcal.study.decisions`.
"""
