"""lazyarr.exec_gpu (see docs/design.md)."""
