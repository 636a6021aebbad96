"""Data-parallel training on ``torch.distributed``: one process per device, launched by ``torchrun``.

:class:`Distributed` is the :class:`~.base.Strategy` for ``torchrun --nproc-per-node N -m snnc train ...`` (and
``snnc train ... --nproc N``, which runs that command through :func:`launch`):

* **processes** — ``setup()`` joins the process group from the ``env://`` variables torchrun sets (``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), with gloo on CPU and NCCL on GPUs (rank
  ``LOCAL_RANK`` takes ``cuda:LOCAL_RANK``); every collective has a timeout, so a rank that died or hangs makes
  the others fail with :class:`~snnc.compiler.errors.DistributedError` instead of waiting for ever (under
  torchrun, a rank that exits with an error also makes torchrun stop the others at once);
* **model** — ``prepare(model)`` wraps it in ``DistributedDataParallel``, which averages the gradients over the
  ranks in the backward pass (and broadcasts rank 0's parameters and buffers at the start);
* **data** — ``loader(...)`` reads this rank's shard through :class:`ShardSampler`, torch's
  ``DistributedSampler`` whose order depends on (seed, epoch) alone: ranks take every ``world_size``-th index of
  one seeded permutation, so ``N`` ranks with batch ``b`` see, step by step, the samples one process with batch
  ``N * b`` sees;
* **metrics** — ``reduce_sums`` all-reduces sums (sum of losses, correct predictions, sample counts).

Batch norm: by default each rank normalises with the statistics of its own ``b`` samples and the running
statistics are rank 0's (DDP broadcasts buffers from rank 0 before every forward pass), so a batch-norm
network is *not* equivalent to one process with batch ``N * b``. ``sync_batchnorm=True`` converts the layers to
``torch.nn.SyncBatchNorm`` (statistics over all ranks; CUDA only, as torch implements it).
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import itertools
import os
import subprocess
import sys
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from snnc.compiler.errors import DistributedError, UnsupportedError

from .base import Strategy

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The ``env://`` variables ``torchrun`` sets for every process."""


class ShardSampler(DistributedSampler):
    """``DistributedSampler`` that moves to the next epoch each time it is iterated.

    The order of epoch ``e`` is ``randperm(n, seed + e)`` (or ``0..n-1`` without shuffling), padded by
    repeating its first indices to a multiple of ``num_replicas`` when ``drop_last`` is false; rank ``r`` takes
    positions ``r, r + N, r + 2N, ...``. Iterating the loader once per epoch therefore gives epochs 0, 1, 2, ...;
    a resumed run calls :meth:`set_epoch` with the epoch it resumes at and sees the order it would have seen.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, *, shuffle: bool, seed: int,
                 drop_last: bool = False, pad: bool = True, epoch: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.pad = pad
        self.epoch = epoch
        if not pad and not drop_last:
            self.num_samples = len(range(rank, len(dataset), num_replicas))
            self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        if self.pad or self.drop_last:
            indices = list(super().__iter__())
        else:
            order = (torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed + self.epoch))
                     if self.shuffle else torch.arange(len(self.dataset)))
            indices = order[self.rank :: self.num_replicas].tolist()
        self.epoch += 1
        return iter(indices)


class Distributed(Strategy):
    """Train on ``world_size`` processes with ``DistributedDataParallel`` (see the module docstring).

    Attributes:
        backend: ``gloo`` (CPU) or ``nccl`` (CUDA); None picks from the device.
        timeout: seconds a collective may wait for the other ranks before it fails.
        sync_batchnorm: convert batch-norm layers to ``SyncBatchNorm`` (CUDA only).
        num_workers: data-loading worker processes per rank.
        pin_memory: pin batches in page-locked memory (CUDA).
    """

    name = "ddp"

    def __init__(self, device: str | torch.device = "cpu", *, backend: str | None = None, timeout: float = 300.0,
                 sync_batchnorm: bool = False, num_workers: int = 0, pin_memory: bool = False):
        super().__init__(device)
        if backend not in (None, "gloo", "nccl"):
            raise UnsupportedError(f"unknown torch.distributed backend '{backend}': use gloo (CPU) or nccl (CUDA)")
        if timeout <= 0:
            raise UnsupportedError(f"timeout must be a positive number of seconds, got {timeout}")
        self.backend = backend
        self.timeout = float(timeout)
        self.sync_batchnorm = sync_batchnorm
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self._owns_group = False

    # -- processes -----------------------------------------------------------------------------------

    def setup(self) -> None:
        """Join the process group from torchrun's ``env://`` variables; pick this rank's device.

        Raises:
            DistributedError: the variables are missing (not started by torchrun), or the rendezvous failed.
            UnsupportedError: NCCL without CUDA, or more local ranks than GPUs.
        """
        import torch.distributed as dist

        if not dist.is_available():
            raise DistributedError("this torch build has no torch.distributed; install the standard torch wheel")
        if not dist.is_initialized():
            missing = [v for v in TORCHRUN_VARS if v not in os.environ]
            if missing:
                raise DistributedError(
                    f"the ddp strategy runs under torchrun, but {', '.join(missing)} is not set: start it with "
                    "'snnc train ... --nproc N' or 'torchrun --nproc-per-node N -m snnc train ...'"
                )
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if self.device.type == "cuda":
            if not torch.cuda.is_available() or local_rank >= torch.cuda.device_count():
                raise UnsupportedError(
                    f"local rank {local_rank} needs a GPU but {torch.cuda.device_count()} are visible: start at "
                    "most as many processes per node as GPUs, or train on the CPU (--device cpu)"
                )
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        backend = self.backend or ("nccl" if self.device.type == "cuda" else "gloo")
        if backend == "nccl" and self.device.type != "cuda":
            raise UnsupportedError("the nccl backend needs CUDA devices: use gloo on the CPU")
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend, init_method="env://",
                                        timeout=datetime.timedelta(seconds=self.timeout))
            except (RuntimeError, ValueError) as exc:
                where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
                raise DistributedError(f"joining the process group failed ({backend}, {where}): {exc}") from exc
            self._owns_group = True
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()

    def teardown(self) -> None:
        """Leave the process group this strategy joined (safe to call more than once, also after an error)."""
        import torch.distributed as dist

        if self._owns_group and dist.is_initialized():
            gc.collect()  # free what still refers to the group (a dropped DDP wrapper) before destroying it
            dist.destroy_process_group()
            gc.collect()
        self._owns_group = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a failed or timed-out collective (inside the ``with`` block) into one clear error.

        Raises:
            DistributedError: a collective failed: another rank died, stalled past :attr:`timeout`, or the
                connection broke.
        """
        try:
            yield
        except DistributedError:
            raise
        except RuntimeError as exc:
            if not _is_collective_error(exc):
                raise
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: a collective operation failed — another rank stopped "
                f"(see its message above) or did not answer within {self.timeout:g} s: {str(exc).splitlines()[0]}"
            ) from exc

    # -- model, data, reductions ---------------------------------------------------------------------

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to this rank's device and wrap it in ``DistributedDataParallel``.

        Raises:
            UnsupportedError: ``sync_batchnorm`` on the CPU (torch's ``SyncBatchNorm`` runs on GPUs only).
        """
        from torch.nn.parallel import DistributedDataParallel

        model.to(self.device)
        if self.sync_batchnorm:
            if self.device.type != "cuda":
                raise UnsupportedError("sync_batchnorm needs CUDA (torch.nn.SyncBatchNorm runs on GPUs only); on "
                                       "the CPU each rank keeps its own batch statistics")
            _convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        with self.guard():
            return DistributedDataParallel(model, device_ids=ids)

    def loader(self, dataset: Any, batch_size: int, *, shuffle: bool, seed: int, epoch: int = 0,
               pad: bool | None = None) -> Iterable:
        """This rank's shard of ``dataset`` in batches of ``batch_size`` (per rank).

        Args:
            dataset: a map-style dataset.
            batch_size: samples per batch on this rank.
            shuffle: a new seeded order every epoch (training).
            seed: the order's seed (the same on every rank).
            epoch: the first epoch the loader yields (each iteration moves to the next; see :class:`ShardSampler`).
            pad: repeat a few samples so every rank gets the same number (needed for training: DDP expects as
                many steps on every rank); default: pad when shuffling, not otherwise (evaluation stays exact).

        Returns:
            A ``DataLoader`` over a :class:`ShardSampler` (its ``sampler.set_epoch`` sets the next epoch).
        """
        from snnc.runtime.data import make_loader

        sampler = ShardSampler(dataset, self.world_size, self.rank, shuffle=shuffle, seed=seed, epoch=epoch,
                               pad=shuffle if pad is None else pad)
        return make_loader(dataset, batch_size, seed=seed, sampler=sampler, num_workers=self.num_workers,
                           pin_memory=self.pin_memory and self.device.type == "cuda")

    def reduce_sums(self, values: Mapping[str, float]) -> dict[str, float]:
        """Sum each value over all ranks (one ``all_reduce`` of a float64 vector; every rank passes the same keys)."""
        import torch.distributed as dist

        keys = sorted(values)
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
        with self.guard():
            dist.all_reduce(tensor)
        return dict(zip(keys, tensor.tolist()))

    def share(self, module: nn.Module) -> None:
        """Broadcast rank 0's parameters and buffers of ``module`` to every rank (as DDP does for the model)."""
        import torch.distributed as dist

        with self.guard(), torch.no_grad():
            for tensor in itertools.chain(module.parameters(), module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Average the gradients of ``parameters`` over all ranks in one ``all_reduce``.

        A parameter with no gradient on any rank keeps none; one with a gradient on some ranks only gets the
        average with zeros for the others (every rank runs the same steps, so this is only a safeguard).
        """
        import torch.distributed as dist

        params = [p for p in parameters if p.requires_grad]
        if not params:
            return
        flat = torch.cat([torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1),
                                     p.new_tensor([p.grad is not None])]) for p in params])
        with self.guard():
            dist.all_reduce(flat)
        offset = 0
        for p in params:
            n = p.numel()
            grad, present = flat[offset:offset + n], flat[offset + n]
            offset += n + 1
            if present > 0:
                p.grad = (grad / self.world_size).view_as(p).clone()

    def barrier(self) -> None:
        """Wait for every rank (fails after :attr:`timeout` rather than hang)."""
        import torch.distributed as dist

        with self.guard():
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()


def _is_collective_error(exc: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(w in text for w in ("timed out", "timeout", "connection closed", "connection reset", "gloo", "nccl",
                                   "broken pipe"))


def _convert_sync_batchnorm(model: nn.Module) -> None:
    """Replace batch-norm layers by ``SyncBatchNorm`` in place, also inside a spiking module's fx programs."""
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if converted is not model:  # the root itself is a batch-norm layer
        raise UnsupportedError("sync_batchnorm needs a network that contains batch-norm layers, not one")
    for program in getattr(model, "_programs", ()):
        target = getattr(program, "_orig_mod", program)
        for name, _ in list(target.named_modules()):
            if name and isinstance(target.get_submodule(name), nn.modules.batchnorm._BatchNorm):
                parent, _, leaf = name.rpartition(".")
                setattr(target.get_submodule(parent) if parent else target, leaf, model.get_submodule(name))


def under_torchrun() -> bool:
    """Whether this process was started by torchrun (its ``env://`` variables are set): train with ``ddp``."""
    return all(v in os.environ for v in TORCHRUN_VARS)


def without_launch_options(argv: Sequence[str], options: Sequence[str] = ("--nproc",)) -> list[str]:
    """``argv`` without the launcher's own options (``--nproc 2`` or ``--nproc=2``), for the ranks' command line.

    Args:
        argv: the arguments after ``snnc``.
        options: the options that take one value and must not reach the ranks.

    Returns:
        The remaining arguments, in order.
    """
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(o + "=") for o in options):
            out.append(arg)
    return out


def torchrun_command(nproc: int, argv: Sequence[str], *, nnodes: int = 1, node_rank: int | None = None,
                     rdzv_endpoint: str | None = None, rdzv_id: str | None = None) -> list[str]:
    """The ``torchrun`` command line that runs ``python -m snnc ARGV`` on ``nproc`` processes per node.

    Args:
        nproc: processes on this node (one per GPU, or a few on a CPU).
        argv: the arguments after ``snnc`` (``["train", "spec.yaml", ...]``).
        nnodes: nodes taking part; above 1, ``rdzv_endpoint`` (``host:port`` of the rendezvous) is needed.
        node_rank: this node's index, for a static rendezvous (optional with the c10d rendezvous).
        rdzv_endpoint: ``host:port`` every node can reach.
        rdzv_id: a job id shared by the nodes.

    Returns:
        The command, ``[sys.executable, "-m", "torch.distributed.run", ...]`` (what the ``torchrun`` script runs).

    Raises:
        UnsupportedError: ``nproc`` or ``nnodes`` below 1, or several nodes without a rendezvous endpoint.
    """
    if nproc < 1 or nnodes < 1:
        raise UnsupportedError(f"--nproc and --nnodes must be at least 1 (got {nproc} and {nnodes})")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        if rdzv_endpoint is None:
            raise UnsupportedError("a run on several nodes needs --rdzv-endpoint HOST:PORT (a host every node can "
                                   "reach, usually node 0)")
        cmd += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint]
        if rdzv_id:
            cmd += ["--rdzv-id", rdzv_id]
        if node_rank is not None:
            cmd += ["--node-rank", str(node_rank)]
    return [*cmd, "-m", "snnc", *argv]


def launch(nproc: int, argv: Sequence[str], **rendezvous: Any) -> int:
    """Run ``snnc ARGV`` on ``nproc`` processes through torchrun and wait; returns torchrun's exit status.

    Args:
        nproc: processes per node.
        argv: the arguments after ``snnc``; the caller removes its own ``--nproc`` so the ranks do not relaunch.
        **rendezvous: ``nnodes``, ``node_rank``, ``rdzv_endpoint``, ``rdzv_id`` (see :func:`torchrun_command`).

    Returns:
        0 when every rank succeeded; otherwise the status torchrun reports (it stops every rank when one fails).
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, nproc))))
    return subprocess.run(torchrun_command(nproc, argv, **rendezvous), env=env, check=False).returncode


__all__ = ["Distributed", "ShardSampler", "launch", "torchrun_command", "under_torchrun", "without_launch_options"]
