"""MedicalNet's 3D ResNet-10 (Chen et al. 2019, "Med3D"), the trunk whose features MONAI's
generative tutorials use for 3D FID.

Written out because MONAI's ``ResNet`` has the same parameter names but strides layers 3 and 4,
where MedicalNet keeps the resolution and dilates them (2 and 4): the published weights load
into both, but only this layout computes the features they were trained with. Shortcuts are
1x1x1 convolutions with batch norm ("type B"), the variant of the ResNet-10 checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

LAYERS = (1, 1, 1, 1)  # ResNet-10
WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 1, 1)
DILATIONS = (1, 1, 2, 4)


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv3d(inplanes, planes, 1, stride=stride,
                                                      bias=False), nn.BatchNorm3d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class MedicalNetResNet10(nn.Module):
    """The encoder only (no segmentation head): (N, 1, D, H, W) -> (N, 512, D/8, H/8, W/8)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        inplanes = 64
        for i, (blocks, width, stride, dilation) in enumerate(
                zip(LAYERS, WIDTHS, STRIDES, DILATIONS, strict=True), start=1):
            layer = [BasicBlock(inplanes, width, stride, dilation)]
            layer += [BasicBlock(width, width, 1, dilation) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
            inplanes = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_medicalnet(checkpoint: dict) -> MedicalNetResNet10:
    """The network with a MedicalNet checkpoint's weights (``{"state_dict": {"module.…"}}``).

    Loading is strict: a checkpoint of another depth or shortcut type is refused, not half-loaded.
    """
    state = checkpoint.get("state_dict", checkpoint)
    state = {k.removeprefix("module."): v for k, v in state.items()
             if not k.removeprefix("module.").startswith("conv_seg")}
    net = MedicalNetResNet10()
    net.load_state_dict(state, strict=True)
    return net.eval()
