"""Shared output of the benchmarks: an aligned text table, a JSON file and a PNG bar chart."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def bench_env() -> None:
    """Benchmark processes only: NumPy's OpenBLAS runs its best kernels without these (read
    when it starts: `bench/__init__.py` drops them before NumPy loads; here for the processes
    a benchmark starts). Eager
    misses compile their kernels at once (`lazyarr.set_background_compile`): benchmarks time
    steady states, which a warm-up then reaches on a cold kernel cache too (in the background,
    the first steps run on NumPy until the compiler is done). `bench.overhead` times the
    first runs both ways."""
    os.environ.pop("OPENBLAS_CORETYPE", None)
    os.environ.pop("OPENBLAS_L2_SIZE", None)
    os.environ["LAZYARR_BACKGROUND_COMPILE"] = "0"
    if "lazyarr" in sys.modules:
        sys.modules["lazyarr"].set_background_compile(False)


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def fmt(x) -> str:
    if isinstance(x, float):
        if x != x:
            return "—"
        if abs(x) >= 100:
            return f"{x:,.0f}"
        if abs(x) >= 1:
            return f"{x:.2f}"
        return f"{x:.3g}"
    return str(x)


def table(headers: Sequence[str], rows: Sequence[Sequence], title: str = "") -> str:
    """A Markdown table (aligned, so it reads in a terminal too)."""
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [f"### {title}", ""] if title else []
    out += [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def save_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    return path


def bar_chart(name: str, labels: Sequence[str], series: dict[str, Sequence[float]],
              ylabel: str, title: str, log: bool = False) -> Path | None:
    """Grouped bars: one group per label, one bar per series. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    n = max(len(series), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) + 2), 4))
    for i, (sname, vals) in enumerate(series.items()):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, [v if v == v else 0 for v in vals], width, label=sname)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
