"""`ttm-bench weights list|fetch NAME|verify`: the checkpoint registry from the command line."""

from __future__ import annotations

import argparse

from ttm_bench import weights


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="list, download and verify model checkpoints")
    actions = parser.add_subparsers(dest="weights_command", required=True, metavar="ACTION")

    actions.add_parser("list", help="every checkpoint with source, sha256, licence and metrics"
                       ).set_defaults(func=list_command)

    fetch = actions.add_parser("fetch", help="download a checkpoint into the cache (resumable)")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="checkpoint name(s) or 'all'")
    fetch.add_argument("--dest", default=None,
                       help="directory to download into (default: $TTM_BENCH_CACHE/weights)")
    fetch.set_defaults(func=fetch_command)

    actions.add_parser("verify", help="check installed checkpoints against their sha256"
                       ).set_defaults(func=verify_command)


def list_command(args: argparse.Namespace) -> int:
    for ckpt in weights.CHECKPOINTS.values():
        found = next((p for p in weights.search_paths(ckpt) if p.is_file()), None)
        size = f"{ckpt.size} bytes" if ckpt.size is not None else "unknown"
        print(f"{ckpt.name}\n  file:     {ckpt.filename} ({size})\n"
              f"  metrics:  {', '.join(ckpt.metrics)}\n  licence:  {ckpt.licence}\n"
              f"  sha256:   {ckpt.sha256 or 'unknown'} ({ckpt.sha256_source})\n"
              f"  urls:     {' | '.join(ckpt.urls)}\n"
              f"  local:    {found or 'not installed'}")
    return 0


def fetch_command(args: argparse.Namespace) -> int:
    names = list(weights.CHECKPOINTS) if args.names == ["all"] else args.names
    for name in names:
        ckpt = weights.get_checkpoint(name)
        path = weights.fetch(ckpt, args.dest)
        note = "" if ckpt.sha256 else " (no published sha256: size and hash not verifiable)"
        print(f"{name}: {path}{note}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    results = [weights.verify(c) for c in weights.CHECKPOINTS.values()]
    for r in results:
        where = f" {r.path}" if r.path else ""
        print(f"{r.status:10} {r.checkpoint.name}:{where} ({r.detail})")
    return 1 if any(r.status == "corrupt" for r in results) else 0
