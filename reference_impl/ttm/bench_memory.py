"""Training memory of one masked self-attention layer (a script, not a test):
`python -m reference_impl.ttm.bench_memory`.

One training step (forward, backward of a scalar loss) of `MaskedSelfAttention` on N tokens
labelled with 4 objects and background (the mask rule), per backend, each point in a fresh
subprocess. Peak memory is the rise of the process's maximum resident set size over the step
(`ru_maxrss`, CPU), after a warm-up step on 64 tokens. Prints MiB per N and the fitted growth
exponent (slope of log memory over log N): 1 = linear, 2 = quadratic. The dense reference
(`sdpa`) is measured at the smaller N only by default: at 16k tokens it needs several GiB.
`--device cuda` measures peak allocated GPU memory instead and adds the `flex` backend.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys

import torch

from reference_impl.ttm.masked_attention import MaskedSelfAttention

DIM, HEADS, OBJECTS = 64, 2, 4


def step_peak_mib(backend: str, tokens: int, device: str = "cpu") -> float:
    """Peak memory (MiB) of one training step at `tokens` tokens: on CPU the rise of the
    maximum resident set, on CUDA the peak allocated above what the inputs hold."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    layer = MaskedSelfAttention(DIM, HEADS, backend=backend, zero_init=False).to(device)
    for n in (64, tokens):  # the first step warms up kernels and allocator (not counted)
        x = torch.randn(1, n, DIM, device=device, requires_grad=True)
        ids = torch.randint(0, OBJECTS + 1, (1, n), device=device)
        if n == tokens:
            break
        layer(x, ids=ids).square().mean().backward()
    if device == "cpu":
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        layer(x, ids=ids).square().mean().backward()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (after - before) / 1024  # ru_maxrss is in KiB on Linux
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    layer(x, ids=ids).square().mean().backward()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def growth_exponent(tokens: list[int], mib: list[float]) -> float:
    """Least-squares slope of log(memory) over log(N)."""
    xs, ys = [math.log(n) for n in tokens], [math.log(max(m, 1e-3)) for m in mib]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return num / sum((x - mean_x) ** 2 for x in xs)


def _measure(backend: str, tokens: int, device: str) -> float:
    out = subprocess.run([sys.executable, "-m", __spec__.name, "--device", device, "--point",
                          backend, str(tokens)], check=True, capture_output=True, text=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["mib"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.ttm.bench_memory",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--dense-tokens", type=int, nargs="*", default=[1024, 2048, 4096],
                        help="N for the dense sdpa reference (quadratic memory)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (adds the flex backend)")
    parser.add_argument("--point", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        mib = step_peak_mib(args.point[0], int(args.point[1]), args.device)
        print(json.dumps({"mib": mib}))
        return 0
    print(f"one training step of MaskedSelfAttention(dim={DIM}, heads={HEADS}), "
          f"{OBJECTS} objects + background, {args.device}, peak memory")
    runs = [("grouped", args.tokens), ("sdpa", args.dense_tokens)]
    if args.device != "cpu":  # FlexAttention has no backward on CPU
        runs.insert(1, ("flex", args.tokens))
    for backend, tokens in runs:
        if not tokens:
            continue
        mib = [_measure(backend, n, args.device) for n in tokens]
        points = ", ".join(f"N={n}: {m:.1f} MiB" for n, m in zip(tokens, mib, strict=True))
        print(f"{backend:8s} {points}; growth exponent {growth_exponent(tokens, mib):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
