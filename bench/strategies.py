"""Training strategies as data: a strategy is a list of stages.

Only the Stage type lives here for now; the named strategies of the papers (MedGen3D E2/E3 and
the augmentation axis of Vu et al.) are parsed into stages by the segmenter issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StageData = Literal["real", "synthetic", "real+synthetic", "target"]


@dataclass(frozen=True)
class Stage:
    """One training stage: which data, and whether it starts from the previous stage's weights."""

    data: StageData
    finetune: bool = False
