"""lazyarr's benchmarks: each prints a table, writes JSON under bench/results/ and draws a PNG."""
