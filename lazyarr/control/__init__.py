"""lazyarr.control (see docs/design.md)."""
