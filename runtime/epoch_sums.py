"""The running sums of a training epoch, and their flat form for reducing them over processes.

Why a flat form: a strategy reduces plain ``name → number`` mappings (one all-reduce), whatever the method logs;
:meth:`EpochSums.flat` and :meth:`EpochSums.from_flat` carry the structure through it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .methods import Batch
from .metrics import count_correct, predictions


class EpochSums:
    """Running sums of an epoch: loss, correct, seen, method metrics, per-environment accuracy and each batch's
    ``[loss × samples, samples]`` (the per-iteration loss log)."""

    def __init__(self, state: dict | None = None):
        state = state or {}
        self.loss = float(state.get("loss", 0.0))
        self.correct = int(state.get("correct", 0))
        self.seen = int(state.get("seen", 0))
        self.samples = int(state.get("samples", 0))
        self.metrics: dict[str, float] = dict(state.get("metrics", {}))
        self.env: dict[str, list[int]] = {k: list(v) for k, v in state.get("env", {}).items()}
        self.batches: list[list[float]] = [[float(a), float(b)] for a, b in state.get("batches", [])]
        self.lr = state.get("lr")

    def state(self) -> dict:
        return {"lr": self.lr, "loss": self.loss, "correct": self.correct, "seen": self.seen, "samples": self.samples,
                "metrics": dict(self.metrics), "env": {k: list(v) for k, v in self.env.items()},
                "batches": [list(b) for b in self.batches]}

    def add(self, loss: float, batch: Batch, output: Any, decoding: Optional[str], metrics: Mapping[str, float]):
        n = len(batch)
        self.loss += loss * n
        self.samples += n
        self.batches.append([loss * n, float(n)])
        self.correct += count_correct(output, batch.y, decoding)
        self.seen += batch.y.numel()
        for key, value in metrics.items():
            self.metrics[key] = self.metrics.get(key, 0.0) + float(value) * n
        if batch.env is not None:
            hits = (predictions(output, decoding) == batch.y).reshape(n, -1).float().mean(1)
            for env in batch.env.unique().tolist():
                mask = batch.env == env
                slot = self.env.setdefault(str(env), [0, 0])
                slot[0] += int(round(float(hits[mask].sum())))
                slot[1] += int(mask.sum())

    @property
    def mean_loss(self) -> float:
        return self.loss / self.samples if self.samples else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else 0.0

    def flat(self) -> dict[str, float]:
        return {"loss": self.loss, "correct": float(self.correct), "seen": float(self.seen),
                "samples": float(self.samples), **{f"m:{k}": v for k, v in self.metrics.items()},
                **{f"e:{k}:c": float(v[0]) for k, v in self.env.items()},
                **{f"e:{k}:n": float(v[1]) for k, v in self.env.items()},
                **{f"b:{i:07d}:l": b[0] for i, b in enumerate(self.batches)},
                **{f"b:{i:07d}:n": b[1] for i, b in enumerate(self.batches)}}

    @classmethod
    def from_flat(cls, flat: Mapping[str, float]) -> "EpochSums":
        sums = cls({"loss": flat["loss"], "correct": round(flat["correct"]), "seen": round(flat["seen"]),
                    "samples": round(flat["samples"])})
        sums.metrics = {k[2:]: v for k, v in flat.items() if k.startswith("m:")}
        batches: dict[int, list[float]] = {}
        for key, value in flat.items():
            if key.startswith("e:"):
                _, env, part = key.split(":")
                sums.env.setdefault(env, [0, 0])[0 if part == "c" else 1] = round(value)
            elif key.startswith("b:"):
                _, index, part = key.split(":")
                batches.setdefault(int(index), [0.0, 0.0])[0 if part == "l" else 1] = value
        sums.batches = [batches[i] for i in sorted(batches)]
        return sums

    @property
    def batch_losses(self) -> list[Optional[float]]:
        """Each batch's mean loss (over all processes once reduced); None for a batch not logged."""
        return [loss / n if n else None for loss, n in self.batches]


__all__ = ["EpochSums"]
