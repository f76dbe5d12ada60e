"""Units of the recordable state variables, for axis labels and Neo signals.

The models keep one unit system (ms, mV, pA, nS, pF); a variable's unit follows from its
name: ``V_m`` (and ``V_*``) mV; ``I_*`` and AdEx's adaptation current ``w`` pA;
``g_*`` nS; Izhikevich's recovery variable ``U_m`` mV/ms (the paper's units);
Hodgkin-Huxley gates ``m``, ``h``, ``n`` are dimensionless (``""``). Per-channel
variants (``I_syn_ex``, ``g_syn_in``) share the unit of their prefix.
"""

from __future__ import annotations

_EXACT = {"U_m": "mV/ms", "w": "pA", "m": "", "h": "", "n": ""}
_PREFIX = (("V_", "mV"), ("I_", "pA"), ("g_", "nS"))


def unit_of(variable: str) -> str:
    """The unit of a recordable variable (``""`` for dimensionless or unknown ones)."""
    if variable in _EXACT:
        return _EXACT[variable]
    for prefix, unit in _PREFIX:
        if variable.startswith(prefix):
            return unit
    return ""


__all__ = ["unit_of"]
