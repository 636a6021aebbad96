"""The targets snnc can compile to, with what each needs. Targets live in their own modules, imported lazily."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedError, did_you_mean


@dataclass(frozen=True)
class TargetInfo:
    """One target: its name, a one-line description and whether it is built in this version."""

    name: str
    description: str
    available: bool
    note: str = ""


TARGETS: dict[str, TargetInfo] = {
    "ann": TargetInfo("ann", "plain PyTorch module (torch.fx GraphModule); spike nodes are ReLUs", True),
    "snn": TargetInfo("snn", "spiking network of snnTorch neurons, trained with surrogate gradients and BPTT", True),
    "burst": TargetInfo("burst", "a trained ANN converted to a burst-spike SNN (Li & Zeng, IJCAI 2022)", True),
    "mnn": TargetInfo("mnn", "memristive network simulated by MemTorch", False,
                      "the mnn target is not built yet in this version of snnc"),
}


def target_info(name: str) -> TargetInfo:
    """The :class:`TargetInfo` for ``name``.

    Raises:
        UnsupportedError: unknown target (with a did-you-mean) or a target not built yet.
    """
    info = TARGETS.get(name)
    if info is None:
        raise UnsupportedError(f"unknown target '{name}'.{did_you_mean(name, TARGETS)} "
                               f"Targets: {', '.join(TARGETS)}")
    if not info.available:
        built = ", ".join(t for t, i in TARGETS.items() if i.available)
        raise UnsupportedError(f"{info.note}; available targets: {built}")
    return info
