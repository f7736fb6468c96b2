"""Summaries, tables and (later) plots built from computed metrics."""

from __future__ import annotations

from llmcal.reports.summary import MetricValue, Summary, summarize

__all__ = ["MetricValue", "Summary", "summarize"]
