"""lazyarr.diff (see docs/design.md)."""
