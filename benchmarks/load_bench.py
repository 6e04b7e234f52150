"""How long `load_mapping("mappings/amplitude.yaml")` takes: cold (the first load in a fresh
process, imports already done) and warm (later loads in the same process), and a pickled
mapping's round trip (`pickle.dumps`, then `pickle.loads` in a fresh process and in this one).

Each round runs in its own fresh Python process, so that "cold" means cold; the figures printed
are the medians over the rounds, next to a plain-Python reference measured in the same
processes: reading the same YAML with PyYAML's `yaml.safe_load` (C loader when installed) and
the JSON Schemas it names with `json.load`.

    python benchmarks/load_bench.py [--rounds 5] [--warm 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "amplitude.yaml"

_CHILD = r"""
import json, pickle, sys, time
import yaml
t0 = time.perf_counter()
from transformer import load_mapping
t1 = time.perf_counter()
mapping_path, schemas, warm = sys.argv[1], sys.argv[2:-1], int(sys.argv[-1])
settings = {"account_id": "1", "workspace_id": "56354"}
t2 = time.perf_counter()
mapping = load_mapping(mapping_path, settings, environ={})
t3 = time.perf_counter()
warm_times = []
for _ in range(warm):
    a = time.perf_counter()
    load_mapping(mapping_path, settings, environ={})
    warm_times.append(time.perf_counter() - a)
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ref = []
for _ in range(warm):
    a = time.perf_counter()
    with open(mapping_path, encoding="utf-8") as handle:
        yaml.load(handle, Loader=loader)
    for schema in schemas:
        with open(schema, encoding="utf-8") as handle:
            json.load(handle)
    ref.append(time.perf_counter() - a)
pickled = None
try:
    a = time.perf_counter()
    pickled = pickle.dumps(mapping)
    dumps_time = time.perf_counter() - a
    a = time.perf_counter()
    pickle.loads(pickled)
    loads_time = time.perf_counter() - a
except Exception as exc:
    dumps_time = loads_time = None
    print(f"pickle: {type(exc).__name__}: {exc}", file=sys.stderr)
sys.stdout.write(json.dumps({
    "import": t1 - t0, "cold": t3 - t2, "warm": sorted(warm_times)[len(warm_times) // 2],
    "reference": sorted(ref)[len(ref) // 2], "dumps": dumps_time, "loads_same_process": loads_time,
    "pickle_bytes": len(pickled) if pickled is not None else None,
}) + "\n")
if pickled is not None:
    sys.stdout.buffer.write(pickled)
"""

_UNPICKLE = r"""
import pickle, sys, time
data = sys.stdin.buffer.read()
t0 = time.perf_counter()
import transformer
t1 = time.perf_counter()
mapping = pickle.loads(data)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _ms(value: float | None) -> str:
    return "   n/a" if value is None else f"{value * 1000:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--warm", type=int, default=10, help="warm loads per process (default 10)")
    args = parser.parse_args()
    schemas = [str(ROOT / "schemas" / name) for name in
               ("customerio-webhook.schema.json", "amplitude-event.schema.json")]
    rows: list[dict[str, float | None]] = []
    for _ in range(args.rounds):
        run = subprocess.run([sys.executable, "-c", _CHILD, str(MAPPING), *schemas, str(args.warm)],
                             cwd=ROOT, capture_output=True, check=True)
        head, _, pickled = run.stdout.partition(b"\n")
        row: dict[str, float | None] = json.loads(head)
        row["loads_fresh_process"] = None
        if pickled:
            fresh = subprocess.run([sys.executable, "-c", _UNPICKLE], input=pickled, cwd=ROOT,
                                   capture_output=True, check=True)
            row["loads_fresh_process"] = float(fresh.stdout.split()[1])
        rows.append(row)

    def median(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.median(values) if values else None  # type: ignore[type-var]

    size = median("pickle_bytes")
    print(f"load_mapping({MAPPING.relative_to(ROOT)}), medians of {args.rounds} fresh processes (ms):")
    print(f"  import transformer                 {_ms(median('import'))}")
    print(f"  first load (cold)                  {_ms(median('cold'))}")
    print(f"  later loads (warm)                 {_ms(median('warm'))}")
    print(f"  reference: yaml.safe_load + json.load of its schemas {_ms(median('reference'))}")
    print(f"  pickle.dumps                       {_ms(median('dumps'))}"
          + (f"   ({size / 1000:.0f} kB)" if size else ""))
    print(f"  pickle.loads, same process         {_ms(median('loads_same_process'))}")
    print(f"  pickle.loads, fresh process        {_ms(median('loads_fresh_process'))}  (after import)")


if __name__ == "__main__":
    main()
