"""Presentation only: table cells, plots and the HTML page, drawn from typed results (:mod:`llmcal.runs`)."""
