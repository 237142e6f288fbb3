"""Top-5 search over a million vectors: latency per single query and recall@5 against exact search.

Two data sets: uniform random unit vectors (the acceptance case, and the hardest one for any
approximate index: there is no structure to exploit) and clustered vectors (10,000 centres + noise),
which behave more like real embeddings, where photos of one animal gather.

    python bench/index_bench.py [--n 1000000] [--dim 1024] [--queries 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from _common import print_json
from pelage.reid.index import CandidateIndex


def unit_rows(rng: np.random.Generator, n: int, dim: int, centres: np.ndarray | None = None, chunk: int = 100_000) -> np.ndarray:
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        block = rng.standard_normal((rows, dim), dtype=np.float32)
        if centres is not None:
            block = centres[rng.integers(0, len(centres), rows)] + 0.5 * block / np.sqrt(dim)
        out[start:start + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def latencies(search, queries: np.ndarray) -> np.ndarray:
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - started)
    return np.array(times) * 1000


def bench(name: str, vectors: np.ndarray, queries: np.ndarray, exact_queries: int) -> dict:
    ids = np.arange(len(vectors))
    index = CandidateIndex(vectors.shape[1], "bench")
    started = time.perf_counter()
    index.add(ids, vectors)
    index.search(queries[:1], k=5)  # builds (and for the approximate index trains) the search structure
    build = time.perf_counter() - started
    approximate_ms = latencies(lambda q: index.search(q, k=5), queries)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    exact_ms = latencies(lambda q: flat.search(q[None], 5), queries[:exact_queries])
    truth = flat.search(queries[:exact_queries], 5)[1]
    found = [[c.id for c in hits] for hits in index.search(queries[:exact_queries], k=5)]
    recall = float(np.mean([len(set(f) & set(t.tolist())) / 5 for f, t in zip(found, truth, strict=True)]))
    result = {
        "data": name, "n": len(vectors), "dim": vectors.shape[1], "index": "exact flat" if index.is_exact else
        f"IVF-Flat, {faiss.extract_index_ivf(index._index()).nlist} lists, nprobe {index.nprobe}",
        "build_s": round(build, 1), "median_ms": round(float(np.median(approximate_ms)), 2),
        "p95_ms": round(float(np.percentile(approximate_ms, 95)), 2), "recall_at_5": round(recall, 3),
        "exact_median_ms": round(float(np.median(exact_ms)), 1),
    }
    print(f"{name:>10}: {result['index']}; build {result['build_s']} s; top-5 query median {result['median_ms']} ms, "
          f"p95 {result['p95_ms']} ms; recall@5 vs exact {result['recall_at_5']:.3f}; exact flat search {result['exact_median_ms']} ms/query")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    results = []
    uniform = unit_rows(rng, args.n, args.dim)
    results.append(bench("uniform", uniform, unit_rows(rng, args.queries, args.dim), args.queries))
    del uniform
    centres = unit_rows(rng, 10_000, args.dim)
    clustered = unit_rows(rng, args.n, args.dim, centres)
    results.append(bench("clustered", clustered, unit_rows(rng, args.queries, args.dim, centres), args.queries))
    print_json("index", {"results": results})


if __name__ == "__main__":
    main()
