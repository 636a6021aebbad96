"""The short strings a command line gives the runtime: ``"4,8,16"`` (a list of positive integers) and
``"fashion-mnist:1000"`` (a dataset and a number of its samples).

Why a module of its own: the same strings reach the runtime from several commands (``snnc convert``,
``snnc compile --calibration``, ``snnc export``) and from scripts; each is read here, with the same message.
"""

from __future__ import annotations

from snnc.compiler.errors import SnncError

DEFAULT_CALIBRATION_SAMPLES = 2048
"""Training samples for the thresholds when ``--calibration DATASET`` names no count."""


def parse_int_list(text: str, what: str) -> list[int]:
    """``"4,8,16"`` → ``[4, 8, 16]`` (sorted, duplicates dropped).

    Args:
        text: comma-separated positive integers.
        what: the option's name, for the message.

    Returns:
        The integers, ascending.

    Raises:
        SnncError: empty, not integers, or not positive.
    """
    values: set[int] = set()
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = int(item)
        except ValueError:
            raise SnncError(f"{what} expects comma-separated positive integers such as 4,8,16; got '{text}'") \
                from None
        if value < 1:
            raise SnncError(f"{what} values must be >= 1, got {value}")
        values.add(value)
    if not values:
        raise SnncError(f"{what} needs at least one value, got '{text}'")
    return sorted(values)


def parse_calibration(text: str) -> tuple[str, int]:
    """``"fashion-mnist:1000"`` → ``("fashion-mnist", 1000)``; without ``:N``, :data:`DEFAULT_CALIBRATION_SAMPLES`.

    Raises:
        SnncError: ``N`` is not a positive integer.
    """
    name, _, count = str(text).partition(":")
    if not count:
        return name.strip(), DEFAULT_CALIBRATION_SAMPLES
    try:
        samples = int(count)
    except ValueError:
        samples = 0
    if samples < 1:
        raise SnncError(f"--calibration expects DATASET or DATASET:N with N a positive number of samples, "
                        f"got '{text}'")
    return name.strip(), samples
