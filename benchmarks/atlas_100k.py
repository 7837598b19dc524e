"""The atlas at scale: ``python benchmarks/atlas_100k.py [N]`` (default 100,000 points).

N ReLU-like vectors of 512 dimensions (a ResNet-18 layer4's width) from 10 classes -> PCA to 50 -> UMAP
(``low_memory``, seed 0) -> a 32x32 grid. Prints wall and CPU seconds (the process's, all threads) and the load
average before and after: on a shared machine the wall time follows the load, the CPU time does not.
Numba compiles UMAP's kernels once per process; a 500-point run first keeps that out of the figure.
"""

import os
import sys
import time

import numpy as np

from layerscope.atlas import atlas

count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
rng = np.random.default_rng(0)
centres = rng.normal(0, 1, (10, 512)) * 3
labels = rng.integers(0, 10, count)
vectors = np.maximum(centres[labels] + rng.normal(0, 1, (count, 512)), 0).astype(np.float32)
atlas(vectors[:500], labels=labels[:500], grid=8, seed=0)  # compile once
print("load average before", os.getloadavg(), "cores", os.cpu_count(), flush=True)
wall, cpu = time.perf_counter(), time.process_time()
result = atlas(vectors, labels=labels, grid=32, seed=0)
print(f"{count} points x 512: wall {time.perf_counter() - wall:.1f} s, cpu {time.process_time() - cpu:.1f} s; "
      f"{result.summary()}; silhouette {result.silhouette():.3f}")
print("load average after", os.getloadavg(), flush=True)
