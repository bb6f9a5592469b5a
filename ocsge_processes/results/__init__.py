"""Result files of processes (extractions, segmentation rasters), kept for a lifetime in the database that every
replica shares, and served by any replica with range requests."""

from __future__ import annotations

from .store import ResultFile, ResultGone, ResultNotFound, ResultStore, open_results

__all__ = ["ResultFile", "ResultGone", "ResultNotFound", "ResultStore", "open_results"]
