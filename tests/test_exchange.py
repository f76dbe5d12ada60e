"""The spike exchange: slots that both ends size alike, checked against Alltoallv under MPI."""

from __future__ import annotations

import numpy as np

from distsnn.comm import LocalComm
from tests.mpi.launch import mpirun, needs_mpi


def test_slot_rule_grows_at_once_and_shrinks_slowly():
    from distsnn.comm.mpi import MIN_SLOT, next_slot

    assert next_slot(MIN_SLOT, 0) == MIN_SLOT and next_slot(MIN_SLOT, MIN_SLOT - 1) == MIN_SLOT
    grown = next_slot(MIN_SLOT, 1000)
    assert grown >= 1.5 * 1001 and grown & (grown - 1) == 0   # a power of two with room to spare
    assert next_slot(grown, 1000) == grown                    # steady traffic: no change
    assert next_slot(grown, grown // 4) == grown              # a quarter used: kept
    assert next_slot(grown, 10) == grown // 2                 # shrinks by halves only
    slot = grown
    for _ in range(20):
        slot = next_slot(slot, 0)
    assert slot == MIN_SLOT


def test_local_exchange_is_the_identity():
    ex = LocalComm().exchanger(np.zeros(0, np.int64), np.zeros(0, np.int64))
    got, counts = ex.exchange(np.zeros(0, np.int64), np.zeros(1, np.int64))
    assert got.size == 0 and counts.tolist() == [0]


@needs_mpi
def test_one_collective_per_exchange_equals_alltoallv():
    proc = mpirun(3, ["tests/mpi/exchange.py", "3"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    fields = dict(kv.split("=") for kv in proc.stdout.split("OK", 1)[1].split())
    assert int(fields["collectives"]) == int(fields["calls"]) == 300   # one collective per call
    assert 0 < int(fields["overflows"]) < 300       # bursts overflowed, steady traffic did not
