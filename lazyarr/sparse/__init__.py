"""lazyarr.sparse (see docs/design.md)."""
