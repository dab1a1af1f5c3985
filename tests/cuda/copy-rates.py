#!/usr/bin/env python3
"""Host-to-device copy rates on this machine (the ceiling of weight uploads): 4 GiB from pageable and
from pinned host memory, and a host-to-host copy into pinned memory (what a staging thread does), each
the best of three after a warm-up."""
import time

import torch

N = 4 << 30


def rate(fn):
    fn()
    torch.cuda.synchronize()
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = max(best, N / (time.perf_counter() - t) / 1e9)
    return best


host = torch.ones(N, dtype=torch.uint8)
pinned = torch.ones(N, dtype=torch.uint8, pin_memory=True)
dev = torch.empty(N, dtype=torch.uint8, device="cuda")
print(f"pageable -> device: {rate(lambda: dev.copy_(host)):.1f} GB/s")
print(f"pinned -> device:   {rate(lambda: dev.copy_(pinned)):.1f} GB/s")
print(f"host -> pinned ({torch.get_num_threads()} threads): {rate(lambda: pinned.copy_(host)):.1f} GB/s")
