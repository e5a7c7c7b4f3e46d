"""Tests of lazyarr.rewrites (a package: helpers are imported relatively)."""
