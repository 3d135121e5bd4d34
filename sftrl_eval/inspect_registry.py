"""Inspect's entry point into the suite (``[project.entry-points.inspect_ai]`` in pyproject.toml): importing it
registers the tasks ``sftrl_eval/generalpoints`` and ``sftrl_eval/virl`` (:mod:`sftrl_eval.inspect_tasks`)."""

from .inspect_tasks import generalpoints, virl

__all__ = ["generalpoints", "virl"]
