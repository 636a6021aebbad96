"""The ddp strategy: two gloo processes under torchrun on 127.0.0.1 against one process, and its failure modes.

Equivalence: with per-rank batch ``b`` on 2 ranks, DDP averages the two ranks' mean gradients, which is the mean
gradient of the ``2b`` samples one process sees at the same step (:class:`ShardSampler` gives rank ``r`` every
second index of one seeded permutation). Only the order of floating-point sums differs, so after 16 SGD steps
with momentum the weights agree within ``rtol=1e-4, atol=1e-5``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from snnc.compiler.errors import DistributedError, UnsupportedError
from snnc.runtime.strategies import STRATEGIES
from snnc.runtime.strategies.distributed import (Distributed, ShardSampler, torchrun_command, under_torchrun,
                                                 without_launch_options)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
import ddp_worker  # noqa: E402

BATCH = 4


def _torchrun(tmp_path: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(HERE / "ddp_worker.py"), "--out", str(tmp_path / "out.pt"), *args]
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, check=False)
    return done, time.monotonic() - start


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single_process(name: str) -> dict:
    model = ddp_worker.build(name.removesuffix("-bn"), name.endswith("-bn"))
    data = ddp_worker.dataset()
    sampler = ShardSampler(data, 1, 0, shuffle=True, seed=ddp_worker.SEED)
    ddp_worker.train(model, model.parameters(), DataLoader(data, batch_size=2 * BATCH, sampler=sampler))
    return model.state_dict()


@pytest.mark.slow
def test_two_gloo_processes_with_batch_b_train_the_weights_of_one_process_with_batch_2b(tmp_path):
    done, _ = _torchrun(tmp_path, "--targets", "ann,snn,ann-bn", "--batch", str(BATCH))
    assert done.returncode == 0, done.stderr[-3000:]
    saved = torch.load(tmp_path / "out.pt", weights_only=True)
    assert saved["world"] == 2
    for name in ("ann", "snn"):
        ours, want = saved["results"][name]["state"], _single_process(name)
        assert ours.keys() == want.keys()
        for key, value in want.items():
            assert torch.allclose(ours[key], value, rtol=1e-4, atol=1e-5), (name, key)
        assert not torch.allclose(ours["fc1.weight"], ddp_worker.build(name).state_dict()["fc1.weight"])
    # Batch norm is per rank: each rank normalises its own b samples, and the running statistics are rank 0's
    # (DDP broadcasts rank 0's buffers before every forward pass), here the running mean of rank 0's batches.
    bn = saved["results"]["ann-bn"]["state"]
    data = ddp_worker.dataset()
    sampler, mean = ShardSampler(data, 2, 0, shuffle=True, seed=ddp_worker.SEED), torch.zeros(1)
    for _ in range(ddp_worker.EPOCHS):
        for x, _ in DataLoader(data, batch_size=BATCH, sampler=sampler):
            mean = 0.9 * mean + 0.1 * x.mean()
    assert torch.allclose(bn["bn0.running_mean"], mean, atol=1e-6)
    assert int(bn["bn0.num_batches_tracked"]) == ddp_worker.EPOCHS * ddp_worker.SAMPLES // (2 * BATCH)
    assert not torch.allclose(bn["fc1.weight"], _single_process("ann-bn")["fc1.weight"], atol=1e-5)


@pytest.mark.slow
def test_modules_outside_ddp_start_from_rank_0_and_get_the_mean_gradient(tmp_path):
    done, _ = _torchrun(tmp_path, "--extra")
    assert done.returncode == 0, done.stderr[-3000:]
    extra = torch.load(tmp_path / "out.pt", weights_only=True)["results"]["extra"]
    torch.manual_seed(0)
    assert torch.equal(extra["weight"], torch.nn.Linear(3, 2).weight.detach())  # rank 0's initialisation
    assert torch.equal(extra["before"], extra["weight"])
    assert extra["sums"]["weight"] == pytest.approx(2 * float(extra["weight"].sum()))  # rank 1 holds the same
    assert torch.equal(extra["grad"], torch.full((2, 3), 1.5))  # the mean of rank 0's 1 and rank 1's 2
    assert extra["sums"]["grad"] == pytest.approx(2 * 1.5 * 6)
    assert extra["unused_grad"] is None  # no rank had one


@pytest.mark.slow
def test_an_error_on_one_rank_stops_every_rank(tmp_path):
    done, seconds = _torchrun(tmp_path, "--fail", "raise")
    assert done.returncode != 0
    assert "rank 1 failed on purpose" in done.stderr
    assert not (tmp_path / "out.pt").exists()
    assert seconds < 240


@pytest.mark.slow
def test_a_stalled_rank_makes_the_others_fail_at_the_collective_timeout(tmp_path):
    done, seconds = _torchrun(tmp_path, "--fail", "stall", "--timeout", "10")
    assert done.returncode != 0
    assert "error: rank 0 of 2: a collective operation failed" in done.stderr, done.stderr[-3000:]
    assert seconds < 240  # not the 600 s the stalled rank sleeps


def test_shards_cover_one_seeded_permutation_that_depends_on_seed_and_epoch_only():
    data = list(range(10))
    shards = [ShardSampler(data, 2, r, shuffle=True, seed=3) for r in range(2)]
    one = ShardSampler(data, 1, 0, shuffle=True, seed=3)
    for _ in range(3):
        a, b, whole = list(shards[0]), list(shards[1]), list(one)
        assert a == whole[0::2] and b == whole[1::2]
    assert [list(ShardSampler(data, 1, 0, shuffle=True, seed=3, epoch=e)) for e in range(3)] != [whole] * 3
    resumed = ShardSampler(data, 1, 0, shuffle=True, seed=3)
    resumed.set_epoch(2)
    assert list(resumed) == whole  # a run resumed at epoch 2 sees epoch 2's order


def test_training_shards_are_padded_evaluation_shards_are_exact():
    data = list(range(7))
    padded = [list(ShardSampler(data, 2, r, shuffle=True, seed=0)) for r in range(2)]
    assert len(padded[0]) == len(padded[1]) == 4 and set(padded[0] + padded[1]) == set(data)
    exact = [list(ShardSampler(data, 2, r, shuffle=False, seed=0, pad=False)) for r in range(2)]
    assert sorted(exact[0] + exact[1]) == data and len(exact[0]) == 4 and len(exact[1]) == 3


def test_setup_outside_torchrun_says_how_to_start(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DistributedError, match="torchrun --nproc-per-node N -m snnc train"):
        Distributed().setup()


def test_registry_and_options():
    assert STRATEGIES.get("ddp") is Distributed
    with pytest.raises(UnsupportedError, match="gloo"):
        Distributed(backend="mpi")
    with pytest.raises(UnsupportedError, match="timeout"):
        Distributed(timeout=0)


def test_torchrun_command_for_one_node_and_several():
    cmd = torchrun_command(2, ["train", "s.yaml"])
    assert cmd[1:] == ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", "-m", "snnc", "train",
                       "s.yaml"]
    multi = torchrun_command(4, ["train", "s.yaml"], nnodes=2, rdzv_endpoint="node0:29400", rdzv_id="job7")
    assert multi[3:7] == ["--nproc-per-node", "4", "--nnodes", "2"] and "--standalone" not in multi
    assert multi[multi.index("--rdzv-endpoint") + 1] == "node0:29400" and multi[-3:] == ["snnc", "train", "s.yaml"]
    with pytest.raises(UnsupportedError, match="rdzv-endpoint"):
        torchrun_command(2, ["train"], nnodes=2)
    with pytest.raises(UnsupportedError, match="at least 1"):
        torchrun_command(0, ["train"])


def test_launch_options_do_not_reach_the_ranks(monkeypatch):
    argv = ["train", "s.yaml", "--nproc", "2", "--epochs", "3", "--nproc=4", "--resume"]
    assert without_launch_options(argv) == ["train", "s.yaml", "--epochs", "3", "--resume"]
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(var, "0")
    assert under_torchrun()
    monkeypatch.delenv("RANK")
    assert not under_torchrun()
