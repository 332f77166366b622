"""The `minigrok experiment NAME` subcommand: its arguments and what it runs."""
import os

from ..errors import MinigrokError


def _float_list(text, what):
    from ..sweep import parse_list
    return None if text is None else parse_list(text, float, what)


def cmd_experiment(args):
    from ..cli import _check_model, _training_config
    from . import EXPERIMENTS, report, run_experiment
    if args.name not in EXPERIMENTS:
        raise MinigrokError(f"unknown experiment {args.name!r}; allowed: {', '.join(EXPERIMENTS)}")
    _check_model(args.model)
    from ..sweep import parse_list
    opts = {"rate": args.rate, "rates": _float_list(args.rates, "--rates"),
            "at": None if args.at is None else parse_list(args.at, int, "--at"),
            "ops": None if args.ops is None else [o.strip() for o in args.ops.split(",") if o.strip()],
            "from_epoch": args.from_epoch, "ep_epochs": args.ep_epochs, "ep_lr": args.ep_lr,
            "grok_threshold": args.grok_threshold}
    if opts["ops"] == []:
        raise MinigrokError("--ops is empty")
    summary = run_experiment(args.name, _training_config(args), args.out, args.seeds,
                             {k: v for k, v in opts.items() if v is not None}, args.quiet)
    print(report(summary))
    print(f"wrote {os.path.join(args.out, args.name)}/results.csv, summary.json, {args.name}.png")


def add_experiment_parser(sub, add_training_args, defaults):
    """Register `experiment` on the CLI's subparsers (training options as `ticket`'s)."""
    p = sub.add_parser("experiment", help="run a control experiment of the papers: rate-sweep, "
                       "no-decay, non-grokking, norm-control, pai, edge-popup, imp, ops")
    p.add_argument("name", metavar="NAME", help="rate-sweep, no-decay, non-grokking, norm-control, "
                   "pai, edge-popup, imp or ops")
    add_training_args(p, defaults)
    g = p.add_argument_group("experiment")
    g.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2): mean and spread")
    g.add_argument("--out", default="runs/experiments",
                   help="output folder (default runs/experiments); dense runs cached in OUT/dense_seed<s>/")
    g.add_argument("--rate", type=float, default=0.6, help="ticket pruning rate (default 0.6: keep 40%%)")
    g.add_argument("--rates", help="rate-sweep: default 0.0,...,0.9; no-decay: default 0.7,0.8,0.9")
    g.add_argument("--at", help="non-grokking: checkpoint epochs (default 2000,5000,10000,16000,28000)")
    g.add_argument("--ops", help="ops: comma-separated operations (default all eight)")
    g.add_argument("--from-epoch", type=int, default=1000,
                   help="edge-popup: the memorising checkpoint to start from (default 1000)")
    g.add_argument("--ep-epochs", type=int, default=2000, help="edge-popup: epochs of each run (default 2000)")
    g.add_argument("--ep-lr", type=float, default=1e-2, help="edge-popup: AdamW lr of scores / weights (1e-2)")
    g.add_argument("--grok-threshold", type=float, default=0.95,
                   help="no-decay: test accuracy that counts as grokking in the critical-rate search (0.95)")
    p.set_defaults(func=cmd_experiment)
    return p
