"""StyleGAN2 (Karras et al. 2020) and the mask-conditioned variant of Vu et al. (C-SG), in one file.

No maintained library offers StyleGAN2 with C-SG's changes, so the networks are written here,
kept close to the paper's figures:

- Mapping network: normalised z, ``mapping_layers`` fully connected layers (learning rate x0.01),
  a running mean of w for the truncation trick.
- Synthesis network: learned 4x4 constant, per resolution two modulated 3x3 convolutions with
  weight demodulation, per-pixel noise with a learned strength, and a skip-connected toRGB whose
  outputs are upsampled and summed.
- Residual discriminator: fromRGB, one residual block per resolution, minibatch standard
  deviation, a 3x3 convolution and two fully connected layers.
- Equalised learning rate everywhere: weights are stored N(0, 1) and scaled at run time.

Resampling uses StyleGAN2's [1, 3, 3, 1] FIR filter: transposed convolution then blur when a
convolution upsamples, blur then strided convolution when one downsamples, and bilinear
upsampling (the same filter) for the skip-connected toRGB outputs.

C-SG (Figure 2 of Vu et al.) adds the one-hot mask, resampled to each block's resolution:
in the generator it is concatenated to the output of every modulated (weight-demodulated)
convolution, so the next convolution and the toRGB layer see it; in the discriminator it is
concatenated to the input before fromRGB and to the input of every residual block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with StyleGAN's gain, which keeps activations at unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Zero insertion and the [1, 3, 3, 1] filter, which is bilinear upsampling by two."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def blur(x: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
    """The separable [1, 3, 3, 1] low-pass filter, per channel, after padding by ``pad``."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], device=x.device, dtype=x.dtype)
    kernel = (taps[:, None] * taps[None, :]) * (gain / 64.0)
    c = x.shape[1]
    return F.conv2d(F.pad(x, (pad,) * 4), kernel.expand(c, 1, 4, 4), groups=c)


def with_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``x`` with the one-hot mask at its resolution appended (C-SG); ``x`` without a mask.

    Area averaging keeps the class fractions of each cell."""
    if mask is None:
        return x
    if mask.shape[-1] != x.shape[-1]:
        mask = F.interpolate(mask, size=x.shape[-2:], mode="area")
    return torch.cat([x, mask], 1)


def channels_at(resolution: int, base: int, cap: int) -> int:
    """StyleGAN2's channel rule: feature maps halve as resolution doubles, up to a cap."""
    return max(1, min(base // resolution, cap))


class EqualLinear(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), float(bias_init)))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(fan_in), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(x) if self.activate else x


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate; ``down``: blur, then stride 2 (StyleGAN2)."""

    def __init__(self, fan_in: int, fan_out: int, kernel: int, bias: bool = True,
                 activate: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(fan_out)) if bias else None
        self.scale = 1.0 / math.sqrt(fan_in * kernel * kernel)
        self.activate, self.down = activate, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[-1]
        if self.down:  # blur padding (4 - 2 + k - 1) / 2 keeps sizes exact at stride 2
            x = F.conv2d(blur(x, (k + 1) // 2), self.weight * self.scale, stride=2)
        else:
            x = F.conv2d(x, self.weight * self.scale, padding=k // 2)
        if self.bias is not None:
            x = x + self.bias[None, :, None, None]
        return lrelu(x) if self.activate else x


class MappingNetwork(nn.Module):
    """z -> w. ``w_avg`` tracks the mean w during training, the centre for truncation."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True)
                                   for a, b in zip(dims[:-1], dims[1:], strict=True)])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        w = self.net(z)
        if self.training:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation != 1.0:
            w = self.w_avg.lerp(w, truncation)
        return w


class ModulatedConv2d(nn.Module):
    """StyleGAN2's modulated convolution: per-sample input scaling by the style, then, with
    ``demodulate``, per-sample output scaling to unit expected variance.

    Written as scale-convolve-scale (StyleGAN2's non-fused form), which equals convolving with
    the per-sample modulated and demodulated weights. ``up``: transposed convolution with
    stride 2, then blur.
    """

    def __init__(self, fan_in: int, fan_out: int, kernel: int, w_dim: int,
                 demodulate: bool = True, up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, kernel, kernel))
        self.affine = EqualLinear(w_dim, fan_in, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(fan_in * kernel * kernel)
        self.demodulate, self.up = demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # (B, fan_in)
        weight = self.weight * self.scale
        x = x * style[:, :, None, None]
        if self.up:
            x = blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2), 1, gain=4.0)
        else:
            x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            sigma = (weight[None] * style[:, None, :, None, None]).pow(2).sum((2, 3, 4))
            x = x * torch.rsqrt(sigma + 1e-8)[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated convolution, then noise, bias and activation."""

    def __init__(self, fan_in: int, fan_out: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(fan_in, fan_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator``: where the per-pixel noise comes from (torch's global RNG when None,
        as in training, which seeds it per step)."""
        x = self.conv(x, w)
        if noise == "random":
            n = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device,
                            generator=generator)
            x = x + n * self.noise_strength
        return lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    def __init__(self, fan_in: int, out_channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(fan_in, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) -> output (B, out_channels, R, R); ``mask`` only for C-SG."""

    def __init__(self, resolution: int, out_channels: int, w_dim: int, channel_base: int,
                 channel_max: int, mask_channels: int = 0):
        super().__init__()
        self.resolution, self.mask_channels = resolution, mask_channels
        k = mask_channels
        ch = {r: channels_at(r, channel_base, channel_max) for r in self.resolutions}
        self.const = nn.Parameter(torch.randn(ch[4], 4, 4))
        self.layers, self.to_rgb = nn.ModuleList(), nn.ModuleList()
        for r in self.resolutions:
            if r == 4:
                self.layers.append(SynthesisLayer(ch[4], ch[4], w_dim, 4))
            else:
                self.layers.append(SynthesisLayer(ch[r // 2] + k, ch[r], w_dim, r, up=True))
                self.layers.append(SynthesisLayer(ch[r] + k, ch[r], w_dim, r))
            self.to_rgb.append(ToRGB(ch[r] + k, out_channels, w_dim))
        self.num_ws = len(self.layers) + 1  # StyleGAN2 counts the last toRGB's w as well

    @property
    def resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]

    def forward(self, ws: torch.Tensor, mask: torch.Tensor | None = None,
                noise: str = "random", generator: torch.Generator | None = None
                ) -> torch.Tensor:
        if (mask is None) != (self.mask_channels == 0):
            raise ValueError("a mask is needed by (and only by) the conditional generator")
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        image, layer = None, 0
        for r, to_rgb in zip(self.resolutions, self.to_rgb, strict=True):
            for _ in range(1 if r == 4 else 2):
                x = with_mask(self.layers[layer](x, ws[:, layer], noise, generator), mask)
                layer += 1
            rgb = to_rgb(x, ws[:, layer])
            image = rgb if image is None else upsample(image) + rgb
        return image


class GeneratorNetwork(nn.Module):
    """Mapping and synthesis; style mixing during training as in StyleGAN2."""

    def __init__(self, resolution: int, out_channels: int, z_dim: int, w_dim: int,
                 mapping_layers: int, channel_base: int, channel_max: int,
                 mask_channels: int = 0):
        super().__init__()
        self.z_dim = z_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(resolution, out_channels, w_dim, channel_base,
                                          channel_max, mask_channels)

    def ws(self, z: torch.Tensor, truncation: float = 1.0, mixing: float = 0.0) -> torch.Tensor:
        """Per-layer styles; with probability ``mixing`` a second z takes over from a random
        layer on (the style mixing regulariser)."""
        num = self.synthesis.num_ws
        ws = self.mapping(z, truncation)[:, None].repeat(1, num, 1)
        if mixing > 0 and torch.rand(()) < mixing:
            cut = int(torch.randint(1, num, ()))
            ws[:, cut:] = self.mapping(torch.randn_like(z), truncation)[:, None]
        return ws

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None,
                truncation: float = 1.0, mixing: float = 0.0,
                noise: str = "random", generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """Sampling passes ``generator`` for the layers' noise (it never mixes styles)."""
        return self.synthesis(self.ws(z, truncation, mixing), mask, noise, generator)


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convolutions (the second halves the resolution) plus a 1x1 skip, summed /sqrt2."""

    def __init__(self, fan_in: int, width: int, fan_out: int):
        super().__init__()
        self.conv0 = EqualConv2d(fan_in, width, 3)
        self.conv1 = EqualConv2d(width, fan_out, 3, down=True)
        self.skip = EqualConv2d(fan_in, fan_out, 1, bias=False, activate=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / SQRT2


class Discriminator(nn.Module):
    """Residual discriminator; with ``mask_channels`` it is C-SG's, which sees the mask."""

    def __init__(self, resolution: int, in_channels: int, channel_base: int, channel_max: int,
                 mask_channels: int = 0, mbstd_group: int = 4):
        super().__init__()
        self.mask_channels, self.mbstd_group = mask_channels, mbstd_group
        k = mask_channels
        resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]
        ch = {r: channels_at(r, channel_base, channel_max) for r in [*resolutions, 4]}
        self.from_rgb = EqualConv2d(in_channels + k, ch[resolution], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(ch[r] + k, ch[r], ch[r // 2])
                                    for r in resolutions)
        self.conv = EqualConv2d(ch[4] + 1, ch[4], 3)
        self.fc = EqualLinear(ch[4] * 16, ch[4], activate=True)
        self.out = EqualLinear(ch[4], 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if (mask is None) != (self.mask_channels == 0):
            raise ValueError("a mask is needed by (and only by) the conditional discriminator")
        x = self.from_rgb(with_mask(x, mask))
        for block in self.blocks:
            x = block(with_mask(x, mask))
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        return self.out(self.fc(x.flatten(1)))[:, 0]


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """One extra feature map: the standard deviation of features across a group of samples,
    averaged; it lets the discriminator see a lack of variety (mode collapse)."""
    b, c, h, w = x.shape
    g = math.gcd(min(group, b), b)
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (B/g,)
    y = y.repeat(g)[:, None, None, None].expand(b, 1, h, w)
    return torch.cat([x, y], 1)
