"""Hand-written PyTorch definitions of the zoo's networks, written from the papers and official code, not from
the specs, for tests/test_zoo.py. Spiking neurons are ReLUs (what the ann target makes of a spike layer).

Module names follow the specs where the source's names are not digits, so most state dicts load by key; the rest
load in registration order (:func:`load_in_order`).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


def load_in_order(target: nn.Module, source: nn.Module) -> None:
    """Copy ``source``'s state dict into ``target`` entry by entry in order, checking that every shape agrees."""
    theirs, ours = list(source.state_dict().values()), list(target.state_dict().keys())
    assert len(theirs) == len(ours), (len(theirs), len(ours))
    mapped = dict(zip(ours, theirs))
    for key, value in mapped.items():
        assert target.state_dict()[key].shape == value.shape, key
    target.load_state_dict(mapped)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch-norm random statistics and affine parameters, so that eval-mode outputs test them."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                                     bn=nn.BatchNorm2d(cout)))


# --------------------------------------------------------------------------------------------------- VGG-16-BN


class VGG16BN(nn.Module):
    """VGG-16 configuration D with BN after each conv (torchvision's vgg16_bn features), 512→classes head."""

    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, in_channels: int = 3, classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


# ------------------------------------------------------------------------------------------- SEW / MS ResNet-34


class _Stem(nn.Module):
    """conv-BN(-ReLU)(-maxpool): ImageNet 7×7/2 + max-pool, or CIFAR 3×3/1."""

    def __init__(self, width: int, imagenet: bool, act: bool, in_channels: int = 3):
        super().__init__()
        k, s, p = (7, 2, 3) if imagenet else (3, 1, 1)
        self.conv1, self.bn1 = nn.Conv2d(in_channels, width, k, s, p, bias=False), nn.BatchNorm2d(width)
        self.act, self.pool = act, imagenet

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        x = torch.relu(x) if self.act else x
        return F.max_pool2d(x, 3, 2, 1) if self.pool else x


class SEWBlock(nn.Module):
    """SpikingJelly's sew_resnet BasicBlock with cnf='ADD': SN(BN(conv(SN(BN(conv(x)))))) + shortcut(x)."""

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes)
        self.downsample = _conv_bn(cin, planes, 1, stride) if stride != 1 or cin != planes else None

    def forward(self, x):
        out = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        identity = torch.relu(self.downsample(x)) if self.downsample is not None else x
        return identity + out


class MSBlock(nn.Module):
    """MS-ResNet basic block: BN(conv(SN(BN(conv(SN(x)))))) + shortcut(x), shortcut = x or BN(conv1×1(x))."""

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes)
        self.shortcut = _conv_bn(cin, planes, 1, stride) if stride != 1 or cin != planes else None

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(torch.relu(x))))))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


class ResNet34(nn.Module):
    """A ResNet-34 body (3-4-6-3 basic blocks, widths w·[1, 2, 4, 8]) around SEW or MS blocks."""

    def __init__(self, block: type, width: int = 64, classes: int = 1000, imagenet: bool = True,
                 in_channels: int = 3):
        super().__init__()
        self.ms = block is MSBlock
        self.stem = _Stem(width, imagenet, act=not self.ms, in_channels=in_channels)
        cin, stages = width, []
        for s, depth in enumerate((3, 4, 6, 3)):
            planes = width * 2 ** s
            stages.append(nn.Sequential(*[block(cin if j == 0 else planes, planes, 2 if s and j == 0 else 1)
                                          for j in range(depth)]))
            cin = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        x = torch.relu(x) if self.ms else x
        return self.fc(x.mean((2, 3)))


# ------------------------------------------------------------------------------------------- GhostNet (V1, V2)


def make_divisible(v: float, divisor: int = 4) -> int:
    """The official code's ``_make_divisible``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    def __init__(self, chs: int):
        super().__init__()
        reduced = make_divisible(chs * 0.25)
        self.conv_reduce, self.conv_expand = nn.Conv2d(chs, reduced, 1), nn.Conv2d(reduced, chs, 1)

    def forward(self, x):
        return x * hard_sigmoid(self.conv_expand(torch.relu(self.conv_reduce(F.adaptive_avg_pool2d(x, 1)))))


class GhostModule(nn.Module):
    """GhostModule (ratio 2, dw 3×3); ``attn="dfc"``: GhostModuleV2's 'attn' mode (DFC attention);
    ``attn="channel_mlp"``: the same gate without the pooling, the 1×5 / 5×1 depthwise convs and the up-sampling."""

    def __init__(self, inp: int, oup: int, relu: bool = True, attn: str | None = None):
        super().__init__()
        init = math.ceil(oup / 2)
        self.oup, self.relu = oup, relu
        self.primary_conv = nn.Sequential(nn.Conv2d(inp, init, 1, bias=False), nn.BatchNorm2d(init))
        self.cheap_operation = nn.Sequential(nn.Conv2d(init, init, 3, 1, 1, groups=init, bias=False),
                                             nn.BatchNorm2d(init))
        self.attn = attn
        self.short_conv = nn.Sequential(nn.Conv2d(inp, oup, 1, bias=False), nn.BatchNorm2d(oup)) if attn else None
        if attn == "dfc":
            self.short_conv.extend([
                nn.Conv2d(oup, oup, (1, 5), 1, (0, 2), groups=oup, bias=False), nn.BatchNorm2d(oup),
                nn.Conv2d(oup, oup, (5, 1), 1, (2, 0), groups=oup, bias=False), nn.BatchNorm2d(oup)])

    def forward(self, x):
        act = torch.relu if self.relu else (lambda t: t)
        x1 = act(self.primary_conv(x))
        out = torch.cat([x1, act(self.cheap_operation(x1))], 1)[:, :self.oup]
        if self.short_conv is None:
            return out
        if self.attn == "channel_mlp":
            return out * torch.sigmoid(self.short_conv(x))
        res = self.short_conv(F.avg_pool2d(x, 2, 2))
        return out * F.interpolate(torch.sigmoid(res), size=out.shape[-2:], mode="nearest")


class GhostBottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, out: int, k: int, stride: int, se: float, attn: str | None):
        super().__init__()
        self.ghost1 = GhostModule(cin, mid, True, attn)
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, k, stride, (k - 1) // 2, groups=mid, bias=False),
                                nn.BatchNorm2d(mid)) if stride > 1 else nn.Identity()
        self.se = SqueezeExcite(mid) if se > 0 else nn.Identity()
        self.ghost2 = GhostModule(mid, out, False)
        self.shortcut = nn.Identity() if cin == out and stride == 1 else nn.Sequential(
            nn.Conv2d(cin, cin, k, stride, (k - 1) // 2, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.Conv2d(cin, out, 1, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return self.ghost2(self.se(self.dw(self.ghost1(x)))) + self.shortcut(x)


GHOST_CFGS = [  # k, exp, c, se, s — the official ghostnet() stage table
    [[3, 16, 16, 0, 1]], [[3, 48, 24, 0, 2]], [[3, 72, 24, 0, 1]], [[5, 72, 40, 0.25, 2]],
    [[5, 120, 40, 0.25, 1]], [[3, 240, 80, 0, 2]],
    [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
    [[5, 672, 160, 0.25, 2]],
    [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
]


class GhostNet(nn.Module):
    """GhostNet 1.0× (``v2=False``) or GhostNetV2 1.0× (``v2=True``: ``attention`` in ghost1 of bottlenecks 2..15,
    DFC or channel_mlp); ``stem_stride`` 1 is the CIFAR stem."""

    def __init__(self, classes: int = 1000, v2: bool = False, attention: str = "dfc", stem_stride: int = 2):
        super().__init__()
        self.conv_stem, self.bn1 = nn.Conv2d(3, 16, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(16)
        cin, blocks, layer_id = 16, [], 0
        for cfg in GHOST_CFGS:
            for k, exp, c, se, s in cfg:
                blocks.append(GhostBottleneck(cin, exp, c, k, s, se, attention if v2 and layer_id > 1 else None))
                cin, layer_id = c, layer_id + 1
        blocks.append(nn.Sequential(nn.Conv2d(cin, exp, 1, bias=False), nn.BatchNorm2d(exp), nn.ReLU()))
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = nn.Conv2d(exp, 1280, 1)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x):
        x = self.blocks(torch.relu(self.bn1(self.conv_stem(x))))
        x = torch.relu(self.conv_head(F.adaptive_avg_pool2d(x, 1)))
        return self.classifier(x.flatten(1))


# ------------------------------------------------------------------------------------------------------ U-Net


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1),
                         nn.ReLU())


class UNet(nn.Module):
    """Ronneberger's U-Net with padded convs; up-convolution = nearest up-sampling + 1×1 conv."""

    def __init__(self, depth: int = 4, width: int = 64, classes: int = 2):
        super().__init__()
        chans = [width * 2 ** k for k in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(1 if k == 0 else chans[k - 1], chans[k]) for k in range(depth + 1)])
        self.up_conv = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in reversed(range(depth)):
            self.up_conv.append(nn.Conv2d(chans[k + 1], chans[k], 1))
            self.up.append(DoubleConv(2 * chans[k], chans[k]))
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        skips = []
        for k, down in enumerate(self.down):
            x = down(F.max_pool2d(x, 2) if k else x)
            skips.append(x)
        skips.pop()
        for up_conv, up in zip(self.up_conv, self.up):
            skip = skips.pop()
            x = up_conv(F.interpolate(x, size=skip.shape[-2:], mode="nearest"))
            x = up(torch.cat([skip, x], 1))
        return self.head(x)

    def ordered(self) -> nn.ModuleList:
        """The modules in the spec's order (encoder, bottom, then each decoder level's 1×1 conv and convs)."""
        mods = list(self.down)
        for up_conv, up in zip(self.up_conv, self.up):
            mods += [up_conv, up]
        return nn.ModuleList([*mods, self.head])
