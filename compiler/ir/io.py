"""Graph inputs."""

from typing import Literal

from .base import NodeBase


class Input(NodeBase):
    """The network input: a tensor of ``shape`` (without batch) with values in ``value_range``."""

    kind: Literal["input"] = "input"
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def standardized(self) -> bool:
        """Whether the network takes standardised inputs ``(x - mean) / std`` rather than pixels in [0, 1].

        Why the range decides: ``input.range`` says what the network was built for; [0, 1] (the default, as in
        the snnTorch tutorials) means raw pixels / 255, a range reaching below zero means standardised data.
        """
        return float(self.value_range[0]) < 0.0
