"""The loop: pipeline files, resumable multi-round runs over a run directory (``rlaif run``, ``rlaif status``)."""

from rlaif.loop.pipeline import Pipeline
from rlaif.loop.runner import LoadedPipeline, RunSummary, check_pipeline, load_pipeline, run_pipeline
from rlaif.loop.status import run_status

__all__ = [
    "LoadedPipeline",
    "Pipeline",
    "RunSummary",
    "check_pipeline",
    "load_pipeline",
    "run_pipeline",
    "run_status",
]
