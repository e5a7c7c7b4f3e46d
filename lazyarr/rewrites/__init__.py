"""lazyarr.rewrites (see docs/design.md)."""
