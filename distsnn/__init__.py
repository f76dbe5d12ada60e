"""distsnn: a distributed, partitioned spiking neural network simulator.

Describe a network (:class:`Network`, in Python or TOML via :mod:`distsnn.config`),
then run it (:class:`Simulation` or :func:`simulate`). Units: ms, mV, pA, nS, pF, Hz.

- ``load_network(path)`` / ``loads(text)``: a network from TOML; ``dump``/``dumps`` write it.
- ``load(out_dir)``: the merged records of a run written with ``--out`` (or ``out=``);
  ``load([dir1, dir2])``: a run's segments (restored from checkpoints) as one;
- ``sim.checkpoint(path)`` / ``Simulation.restore(path, net)``: :mod:`distsnn.checkpoint`;
  ``inspect(out_dir)``: a text description of a run directory.
- ``load_sonata(config)`` / ``dump_sonata(net, dir)``: SONATA networks in and out;
  ``load_nir(graph, dt=..., time_unit=...)``: NIR graphs in (optional ``nir`` package).
"""

from .numba_cache import configure as _configure_numba_cache

_configure_numba_cache()   # before any module with a cached kernel is imported

from .config import dump, dumps, loads
from .config import load as load_network
from .connectors import (AllToAll, EdgeList, FixedInDegree, FixedOutDegree, FixedProbability, FixedTotalNumber,
                         OneToOne)
from .positions import Free, Grid, Random
from .spatial import Spatial
from .distributions import Lognormal, Normal, Uniform
from . import checkpoint, comm, placement
from .engine import Simulation, simulate
from .io import inspect, load
from .io.output import OutputOptions
from .io.sonata import SonataCircuit, load_sonata
from .io.sonata_export import dump_sonata
from .io.nir import load_nir
from .network import Network
from .results import Rates, Result, Spikes, Trace
from .synapses import SynapseType

__version__ = "0.1.0"

__all__ = [
    "checkpoint", "comm", "placement", "Network", "Simulation", "simulate", "OutputOptions", "Result", "Spikes", "Trace",
    "Rates", "inspect", "SynapseType",
    "AllToAll", "OneToOne", "FixedProbability", "FixedInDegree", "FixedOutDegree", "FixedTotalNumber",
    "EdgeList", "Grid", "Random", "Free", "Spatial",
    "Uniform", "Normal", "Lognormal", "load", "load_network", "loads", "dump", "dumps",
    "load_sonata", "SonataCircuit", "dump_sonata", "load_nir",
]
