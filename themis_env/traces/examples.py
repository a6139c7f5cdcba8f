"""Write the small example traces shipped in the repository's ``traces/`` folder.

Run ``python -m themis_env.traces.examples [FOLDER]`` (default: the shipped folder) after
changing a generator default; ``tests/traces/test_examples.py`` checks that the shipped files
are exactly what this script writes. The files are:

- ``synthetic_<pattern>.csv``: every pattern at the scenario setting ``seed=0, mean=144,
  duration=660`` (format ``rate-csv``);
- ``example_counts.txt``: the bursty example as whitespace-separated counts (format ``counts``,
  like the Twitter and NASA ``workload.txt``);
- ``example_per_minute.csv``: the bursty example summed per minute (format ``minute-csv``);
- ``example_requests.csv``: the first 30 s of the bursty example as a per-request log with
  epoch-second timestamps (format ``requests``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from themis_env.traces.generators import generate, pattern_names

__all__ = ["EXAMPLE_SETTING", "write_examples"]

EXAMPLE_SETTING = {"seed": 0, "mean": 144, "duration": 660}
_EPOCH0 = 1_628_000_000  # 2021-08-03 14:13:20 UTC, any whole second would do


def write_examples(folder: str | Path) -> list[Path]:
    """Write the example files into ``folder`` and return their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for pattern in pattern_names():
        path = out / f"synthetic_{pattern}.csv"
        generate(pattern, **EXAMPLE_SETTING).to_csv(str(path))
        written.append(path)
    bursty = generate("bursty", **EXAMPLE_SETTING).rps.astype(np.int64)

    counts = out / "example_counts.txt"
    lines = [" ".join(str(v) for v in bursty[i : i + 20]) for i in range(0, bursty.size, 20)]
    counts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(counts)

    per_minute = out / "example_per_minute.csv"
    minutes = bursty.reshape(-1, 60).sum(axis=1)
    per_minute.write_text(
        "t_min,count_per_minute\n" + "".join(f"{i},{c}\n" for i, c in enumerate(minutes)),
        encoding="utf-8",
    )
    written.append(per_minute)

    # Requests spread evenly inside each second (deterministic, so the file is reproducible).
    requests = out / "example_requests.csv"
    rows = ["timestamp"]
    for second, count in enumerate(bursty[:30]):
        for k in range(int(count)):
            rows.append(f"{_EPOCH0 + second + k / count:.6f}")
    requests.write_text("\n".join(rows) + "\n", encoding="utf-8")
    written.append(requests)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the examples into the folder given, or into the shipped ``traces/`` folder."""
    from themis_env.resources import traces_dir

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else traces_dir()
    for path in write_examples(folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
