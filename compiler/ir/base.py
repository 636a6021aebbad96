"""Base of every IR node: a small, frozen, named model with a ``kind`` tag.

Why: pydantic's discriminated union on ``kind`` reports validation errors at the right path by itself, and
frozen models make the IR a value that passes can share safely. No tensors and no torch here: the IR
*represents*; the targets *implement*.
"""

from pydantic import BaseModel, ConfigDict

Shape = tuple[int, ...]
"""A tensor shape without the batch (and time) dimension, e.g. ``(1, 28, 28)``."""


class NodeBase(BaseModel):
    """Common fields of every node.

    Attributes:
        name: unique in the graph; becomes the module name in the lowered torch module (may contain dots
            for nested blocks, e.g. ``layer1.0.conv1``).
        inputs: names of the nodes feeding this one, in argument order.
        shape: the output shape (without batch), filled in by the front end; every shape is explicit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    inputs: tuple[str, ...] = ()
    shape: Shape = ()
