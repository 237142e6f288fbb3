"""Top-5 search over a million vectors: build time, latency per single query and recall@5 against exact search.

Exact flat search is the reference; the approximate index is whichever ``CandidateIndex`` switches to past
its exact limit (PQ fast-scan shortlist + exact re-rank). Two data sets: uniform random unit vectors (the
acceptance case, and the hardest for any approximate index: there is no structure to exploit) and clustered
vectors (a random centre among 10,000 + noise), closer to real embeddings, where photos of one animal gather.
Queries are answered one at a time with FAISS limited to ``--threads`` threads.

    python bench/index_bench.py [--n 1000000] [--dim 1024] [--queries 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import faiss
import numpy as np

from _common import print_json
from pelage.reid.index import EXACT_LIMIT, CandidateIndex

CHUNK = 100_000
CENTRES = 10_000


def unit_rows(rng: np.random.Generator, rows: int, dim: int, centres: np.ndarray | None = None) -> np.ndarray:
    """Random unit vectors; with ``centres``, each is a random centre plus noise of norm about 0.5."""
    block = rng.standard_normal((rows, dim), dtype=np.float32)
    if centres is not None:
        block = centres[rng.integers(0, len(centres), rows)] + 0.5 * block / np.sqrt(dim)
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def latencies_ms(search, queries: np.ndarray) -> dict:
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - started)
    times_ms = 1000 * np.array(times)
    return {"median_ms": round(float(np.median(times_ms)), 2), "p95_ms": round(float(np.percentile(times_ms, 95)), 2)}


def recall_at_5(found: list[list], truth: list[list]) -> float:
    return round(float(np.mean([len({c.id for c in f} & {c.id for c in t}) / 5 for f, t in zip(found, truth, strict=True)])), 4)


def bench(name: str, args: argparse.Namespace, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng, CENTRES, args.dim) if name == "clustered" else None
    queries = unit_rows(rng, args.queries, args.dim, centres)
    index = CandidateIndex(args.dim, f"bench-{name}", exact_limit=args.n)  # filled exact, switched below
    fill = 0.0
    for start in range(0, args.n, CHUNK):  # generated in chunks: only the index holds all the vectors
        rows = unit_rows(rng, min(CHUNK, args.n - start), args.dim, centres)
        started = time.perf_counter()
        index.add(np.arange(start, start + len(rows)), rows)
        fill += time.perf_counter() - started
    del rows
    started = time.perf_counter()
    truth = index.search(queries, k=5)  # exact, batched
    truth_s = time.perf_counter() - started
    exact = latencies_ms(lambda q: index.search(q, k=5), queries)

    index.exact_limit = args.exact_limit
    started = time.perf_counter()
    index.rebuild()
    build = time.perf_counter() - started
    approximate = latencies_ms(lambda q: index.search(q, k=5), queries)
    found = [index.search(q, k=5)[0] for q in queries]
    own = [{c.id for c in hits[:1]} for hits in truth]  # exclude each query's true best match
    excluded = latencies_ms(lambda q: index.search(q, k=5, exclude=set(range(100))), queries)
    found_excl = index.search(queries, k=5, exclude=own)
    flank = np.sort(rng.choice(args.n, min(args.n, 10_000), replace=False))  # a small allowed set: searched exactly
    allowed = latencies_ms(lambda q: index.search(q, k=5, allowed=flank), queries)
    factory = index.params.factory(args.dim)
    codes_mb = args.n * int(factory[2:factory.index("x")]) / 2 / 2**20 if not index.is_exact else 0.0
    result = {
        "data": name, "n": args.n, "dim": args.dim, "queries": args.queries, "threads": args.threads,
        "exact": {"build_s": round(fill, 1), "batch_ground_truth_s": round(truth_s, 1), **exact,
                  "memory_mb": round(args.n * args.dim * 4 / 2**20)},
        "approximate": {"index": "exact (under the limit)" if index.is_exact else f"{factory}, exact re-rank of {index.params.rerank}",
                        "build_s": round(build, 1), **approximate, "recall_at_5": recall_at_5(found, truth),
                        "codes_memory_mb": round(codes_mb), "exclude_100_ms": excluded["median_ms"], "allowed_10k_ms": allowed["median_ms"],
                        "filters_held": all(not o & {c.id for c in hits} and len(hits) == 5 for o, hits in zip(own, found_excl, strict=True))},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    e, a = result["exact"], result["approximate"]
    print(f"{name:>9}  exact flat: build {e['build_s']} s, top-5 median {e['median_ms']} ms, p95 {e['p95_ms']} ms, {e['memory_mb']} MB")
    print(f"{'':>9}  {a['index']}: build {a['build_s']} s, top-5 median {a['median_ms']} ms, p95 {a['p95_ms']} ms, "
          f"recall@5 {a['recall_at_5']:.3f}, +{a['codes_memory_mb']} MB codes; median with 100 excluded {a['exclude_100_ms']} ms, "
          f"with 10,000 allowed {a['allowed_10k_ms']} ms; peak RSS {result['peak_rss_mb']} MB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exact-limit", type=int, default=EXACT_LIMIT, help="switch to approximate past this many vectors")
    parser.add_argument("--data", choices=("uniform", "clustered", "both"), default="both")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    names = ("uniform", "clustered") if args.data == "both" else (args.data,)
    results = [bench(name, args, seed) for seed, name in enumerate(names)]
    print_json("index_bench", {"results": results})


if __name__ == "__main__":
    main()
