"""A workbench for constitution authors: what each principle does before compute is spent on training.

* :mod:`rlaif.workbench.labels` reads a labels dataset (``rlaif label`` output) into per-principle arrays.
* :mod:`rlaif.workbench.inspection`: which principles are drawn, decide, agree, overlap, conflict or are mostly
  position bias (``rlaif inspect``), every number with an interval.
* :mod:`rlaif.workbench.diff`: which labels flip between two constitutions and which principle edit caused each
  flip (``rlaif diff-constitution``), re-judging only the edited principles (the rest come from the call cache).
* :mod:`rlaif.workbench.sensitivity`: how stable each principle's labels are when its wording changes
  (``rlaif diff-constitution --paraphrases N``).
* :mod:`rlaif.workbench.extract`: an inverse constitution, principles proposed from preference pairs and kept
  only when a critic following them reconstructs held-out labels (``rlaif extract-constitution``).
"""

from __future__ import annotations

__all__: list[str] = []
