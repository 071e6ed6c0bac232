"""The run's real-only segmenter, the reference model fidelity judges samples with."""

from __future__ import annotations

import numpy as np

from bench.api.case import CaseSet
from metrics.features import (
    EncoderFeatures,
)


class Reference:
    """The real-only segmenter of the run: bottleneck features and predictions."""

    def __init__(self, segmenter, model, label: str, device: str = "cpu"):
        self.segmenter, self.model, self.label, self.device = segmenter, model, label, device
        self.spatial_dims = segmenter.spatial_dims

    def features(self) -> EncoderFeatures:
        net = self.segmenter.network(self.model, self.device)
        return EncoderFeatures(net, self.segmenter.input_size(), self.device,
                               self.label)

    def predict(self, cases: CaseSet) -> list[np.ndarray]:
        return self.segmenter.predict(self.model, cases, self.device)
