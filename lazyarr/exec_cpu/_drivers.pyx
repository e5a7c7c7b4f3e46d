# cython: language_level=3
"""The kernels' shared drivers (``drivers.h``), built once with the package: every kernel
bundle calls them through the table `table_address` points to (``native.build_kernels`` hands
it to each bundle's ``la_set_drivers``) instead of compiling its own copy."""

cdef extern from *:
    """
    #define LA_DRIVERS_IMPL 1
    #define LA_DRIVER_COLD static
    #define LA_DRIVER_HOT static
    #include "drivers.h"
    static const la_drivers_t la_drivers_table = {
        la_copy, la_strided_rows, la_contig_threads, la_reduce_rows
    };
    static size_t la_drivers_address(void) { return (size_t)&la_drivers_table; }
    """
    size_t la_drivers_address() noexcept nogil


def table_address():
    """The address of the drivers' table (a ``la_drivers_t``), valid while the module is
    loaded (for the life of the process)."""
    return la_drivers_address()
