"""A software prefetch for compiled loops: ``prefetch(array, index)`` asks the CPU to
bring the cache line of ``array[index]`` into its caches, without waiting for it and
without faulting (LLVM's ``llvm.prefetch``; a hint, never a change of result).

Delivery reads each spike's targets, thousands of contiguous 4-byte ports at a random
place in a table far larger than the caches: the hardware prefetcher only catches on
after the first lines of each run, and the scatter waits for memory. Asking for the next
spike's lines while the current one is delivered overlaps that wait
(:mod:`distsnn.delivery`).
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

#: Lines are 64 bytes: this many int32 entries apart.
LINE_INT32 = 16


@intrinsic
def prefetch(typingctx, array, index):
    """Prefetch the line holding ``array[index]`` (1-D array, integer index) for reading
    into all cache levels. An index past the end is harmless (a prefetch never faults)."""
    if not (isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer)):
        return None
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False,
                                       boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # read (0), highest temporal locality (3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
