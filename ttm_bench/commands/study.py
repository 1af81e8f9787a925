"""`ttm-bench study ...`: create, serve, analyze, export, import, invite, recover."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _create(args: argparse.Namespace) -> int:
    from ttm_bench.human.spec import load_spec
    from ttm_bench.human.study import INVITATIONS_FILE, create_study

    study = create_study(load_spec(args.spec), args.out)
    regular = sum(not i.is_check for i in study.items.values())
    print(f"study {study.name!r} created in {study.root}: {regular} items, "
          f"{len(study.items) - regular} attention checks, {len(study.raters)} raters")
    print(f"invitation tokens (shown once, keep private): {study.root / INVITATIONS_FILE}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ttm_bench.human.serve import app_environment, streamlit_command
    from ttm_bench.human.study import Study

    study = Study.load(args.study)  # refuse a changed study before serving anything
    print(f"serving study {study.name!r} on http://{args.address}:{args.port}/?token=TOKEN "
          "(Ctrl-C stops)", flush=True)
    command = streamlit_command(args.address, args.port)
    # exec, not a child process: signals (SIGTERM from a service manager, Ctrl-C) reach the
    # server itself, so stopping `study serve` stops serving and frees the port
    os.execve(command[0], command, app_environment(study.root))


def _analyze(args: argparse.Namespace) -> int:
    from ttm_bench.human.analysis import analyze
    from ttm_bench.human.outputs import paper_table, write_analysis
    from ttm_bench.human.study import Study
    from ttm_bench.human.votes_csv import study_votes

    study = Study.load(args.study)
    store = study.open_store()
    try:
        votes = study_votes(study, store)
    finally:
        store.close()
    threshold = None if args.keep_all else (
        args.max_failed_fraction if args.max_failed_fraction is not None
        else study.spec.attention_checks.max_failed_fraction if study.spec.attention_checks
        else None)
    result = analyze(votes, study.questions, level=args.level, max_failed_fraction=threshold,
                     n_boot=args.n_boot, seed=args.seed)
    paths = write_analysis(result, args.out, study.name)
    print(paper_table(result).to_string(index=False))
    print(f"excluded raters: {', '.join(result.excluded_raters) or 'none'}")
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from ttm_bench.human.study import Study
    from ttm_bench.human.votes_csv import export_votes

    study = Study.load(args.study, verify=False)
    store = study.open_store()
    try:
        n = export_votes(study, store, args.out)
    finally:
        store.close()
    print(f"wrote {n} votes to {args.out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ttm_bench.human.study import Study
    from ttm_bench.human.votes_csv import import_votes

    study = Study.load(args.study)
    store = study.open_store()
    try:
        recorded, duplicates = import_votes(study, store, args.csv)
    finally:
        store.close()
    print(f"imported {recorded} submissions; skipped {duplicates} already recorded")
    return 0


def _invite(args: argparse.Namespace) -> int:
    from ttm_bench.human.study import Study
    from ttm_bench.human.topup import invite_more

    result = invite_more(Study.load(args.study), args.raters)
    print(f"invited {', '.join(result.raters)} for {result.items} item(s) below target; "
          f"tokens (shown once, keep private): {result.invitations}")
    print("a running `study serve` picks the new raters up on their first visit")
    return 0


def _recover(args: argparse.Namespace) -> int:
    from ttm_bench.human.recovery import recover
    from ttm_bench.human.study import Study

    result = recover(Study.load(args.study, verify=False))
    if result.moved_aside:
        print(f"damaged database moved to {result.moved_aside}; a new one was created")
    print(f"replayed the journal: {result.recorded} submissions restored, "
          f"{result.already_present} already present")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    study = subparsers.add_parser("study", help="pairwise human preference studies")
    sub = study.add_subparsers(dest="study_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("create", help="create a study directory from a spec YAML")
    p.add_argument("spec", type=Path, help="study spec (see docs/human_study.md)")
    p.add_argument("--out", type=Path, required=True, help="new study directory")
    p.set_defaults(func=_create)

    p = sub.add_parser("serve", help="serve the rating app (Streamlit)")
    p.add_argument("study", type=Path)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1",
                   help="interface to listen on (default loopback; put a TLS proxy in front "
                        "for remote raters)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("analyze", help="preference shares, agreement, ranking")
    p.add_argument("study", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--level", type=float, default=0.95, help="confidence level")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (Bradley–Terry)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-failed-fraction", type=float, default=None,
                   help="exclude raters failing more than this share of attention checks "
                        "(default: the study's setting)")
    p.add_argument("--keep-all", action="store_true", help="exclude no rater")
    p.set_defaults(func=_analyze)

    p = sub.add_parser("export", help="write every vote as CSV")
    p.add_argument("study", type=Path)
    p.add_argument("--out", type=Path, required=True, help="CSV file")
    p.set_defaults(func=_export)

    p = sub.add_parser("invite", help="add raters for the items still below target")
    p.add_argument("study", type=Path)
    p.add_argument("--raters", type=int, required=True, help="how many new raters")
    p.set_defaults(func=_invite)

    p = sub.add_parser("recover", help="rebuild the votes database from the study's journal")
    p.add_argument("study", type=Path)
    p.set_defaults(func=_recover)

    p = sub.add_parser("import", help="add votes from a CSV (same schema as export)")
    p.add_argument("study", type=Path)
    p.add_argument("csv", type=Path)
    p.set_defaults(func=_import)
