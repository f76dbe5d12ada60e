"""The spike exchange: slots that both ends size alike, checked against Alltoallv under MPI."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn.comm import LocalComm
from tests.mpi.launch import mpirun, needs_mpi


def test_slot_rule_both_ends_follow_without_flip_flop():
    from distsnn.comm.slots import MIN_SLOT, SLOT_ROUND, next_slot

    assert next_slot(MIN_SLOT, 0) == MIN_SLOT and next_slot(MIN_SLOT, MIN_SLOT - 1) == MIN_SLOT
    grown = next_slot(MIN_SLOT, 1000)
    assert grown >= 1.25 * 1001 and grown % SLOT_ROUND == 0 and grown < 1.25 * 1001 + SLOT_ROUND
    for count in (1000, 1200, grown // 2):                # within the band: no change
        assert next_slot(grown, count) == grown
    assert next_slot(grown, grown - 1) == grown and next_slot(grown, grown) > grown   # the count word too
    assert next_slot(grown, 100) < grown // 2             # far below: shrinks to fit
    slot = grown
    for _ in range(3):
        slot = next_slot(slot, 0)
    assert slot == MIN_SLOT


def test_local_exchange_is_the_identity():
    ex = LocalComm().exchanger(np.zeros(0, np.int64), np.zeros(0, np.int64))
    got, counts = ex.exchange(np.zeros(0, np.int64), np.zeros(1, np.int64))
    assert got.size == 0 and counts.tolist() == [0]


def test_exchange_halves_come_in_pairs():
    ex = LocalComm().exchanger(np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(RuntimeError, match="no exchange was started"):
        ex.finish()
    ex.start(np.arange(3, dtype=np.int64), np.array([3]))
    with pytest.raises(RuntimeError, match="has not been finished"):
        ex.start(np.zeros(0, np.int64), np.zeros(1, np.int64))
    got, counts = ex.finish()
    assert got.tolist() == [0, 1, 2] and counts.tolist() == [3]


@needs_mpi
def test_one_collective_per_exchange_equals_alltoallv():
    proc = mpirun(3, ["tests/mpi/exchange.py", "3"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    fields = dict(kv.split("=") for kv in proc.stdout.split("OK", 1)[1].split())
    assert int(fields["collectives"]) == int(fields["calls"]) == 300   # one collective per call
    assert 0 < int(fields["overflows"]) < 300       # bursts overflowed, steady traffic did not
