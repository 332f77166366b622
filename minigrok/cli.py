"""The `minigrok` command line: train, prune, ticket, compare, sweep, bench, analyze, experiment.

Every bad argument ends with one line `minigrok: error: ...` and exit status 2, before any
file is written.
"""
import argparse
import os
import sys

from . import io
from .errors import MinigrokError
from .models import MODELS
from .data import TASK_DEFAULTS
from .runs import TRAIN_DEFAULTS, resume_run, run, with_defaults
from .data.modular import OPERATIONS, SPLITS


def _add_training_args(parser, defaults):
    g = parser.add_argument_group("task and model")
    g.add_argument("--task", default="modular",
                   help=f"one of {', '.join(TASK_DEFAULTS)} (default modular); each task brings "
                        "its paper settings for the options left unset")
    g.add_argument("--data-dir", help="MNIST: folder of IDX files (or MINIGROK_DATA)")
    g.add_argument("--n-train", type=int, help="training examples of a vector task (default: "
                   "MNIST 1000 images, regression 100 points, parity 1200 strings)")
    g.add_argument("--model", help="mlp (default for modular), transformer, or fc (vector tasks)")
    g.add_argument("--kappa", type=float, help="init scale: W ~ N(0, (kappa / sqrt(fan_in))^2) "
                   "(default 1; MNIST 8)")
    g.add_argument("--op", default=defaults["op"], help=f"one of {', '.join(OPERATIONS)}")
    g.add_argument("--p", type=int, default=defaults["p"], help="modulus (default 67)")
    g.add_argument("--frac", type=float, default=defaults["frac"], help="training fraction (default 0.4)")
    g.add_argument("--split", default=defaults["split"], help=f"one of {', '.join(SPLITS)} (default sym)")
    g.add_argument("--seed", type=int, default=defaults["seed"], help="seed of the split and the init")
    g.add_argument("--dtype", default=defaults["dtype"], help="float32 (default) or float64")
    g.add_argument("--backend", default=os.environ.get("MINIGROK_BACKEND") or defaults["backend"],
                   help="numpy (default) or cupy; also MINIGROK_BACKEND")
    g = parser.add_argument_group("optimiser and schedule")
    g.add_argument("--epochs", type=int, help="epoch cap (default 30000)")
    g.add_argument("--lr", type=float, help="AdamW learning rate (default 1e-3)")
    g.add_argument("--wd", type=float, help="AdamW weight decay (default 1)")
    g.add_argument("--beta1", type=float, default=defaults["betas"][0])
    g.add_argument("--beta2", type=float, default=defaults["betas"][1])
    g.add_argument("--eval-every", type=int,
                   help="log metrics every k epochs (default 1; mnist 100)")
    g.add_argument("--checkpoint-every", type=int,
                   help="save a resumable checkpoint every k epochs (default 1000; mnist 10000)")
    g.add_argument("--stop-after", type=int, default=defaults["stop_after"],
                   help="stop once test accuracy has held >= --stop-threshold for N epochs")
    g.add_argument("--stop-threshold", type=float,
                   help="test accuracy of that early stop (default 0.99; mnist 0.9)")
    g.add_argument("--report-threshold", type=float,
                   help="also report t_mem / t_gen at this test accuracy (tasks where 0.95 is "
                        "out of reach; MNIST's default is its own)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _training_config(args):
    """The run settings given on the command line; unset task-dependent options (model,
    epochs, lr, wd) are left out so that the task's defaults apply (runs.with_defaults)."""
    cfg = {
        "task": args.task, "op": args.op, "p": args.p, "frac": args.frac, "split": args.split,
        "seed": args.seed, "dtype": args.dtype, "backend": args.backend,
        "betas": [args.beta1, args.beta2], "eps": TRAIN_DEFAULTS["eps"],
        "stop_after": args.stop_after,
    }
    optional = {"model": args.model, "epochs": args.epochs, "lr": args.lr, "weight_decay": args.wd,
                "data_dir": args.data_dir, "n_train": args.n_train, "kappa": args.kappa,
                "report_threshold": args.report_threshold, "eval_every": args.eval_every,
                "checkpoint_every": args.checkpoint_every, "stop_threshold": args.stop_threshold}
    cfg.update({k: v for k, v in optional.items() if v is not None})
    return with_defaults(cfg)


def _check_model(name):
    if name is not None and name not in MODELS:
        raise MinigrokError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")


def cmd_train(args):
    if args.resume:
        result = resume_run(args.resume, epochs=args.epochs_given, quiet=args.quiet)
    else:
        if not args.out:
            raise MinigrokError("--out DIR is required (or --resume DIR)")
        _check_model(args.model)
        cfg = {**_training_config(args), "init": args.init, "mask": args.mask}
        result = run(cfg, args.out, quiet=args.quiet)
    s = result["summary"]
    print(f"t_mem(0.99) = {s['t_mem']}, t_gen(0.99) = {s['t_gen']}, "
          f"final test acc = {s['final']['test_acc']:.4f}; wrote {result['dir']}")


def cmd_prune(args):
    from .pruning.magnitude import density_from, magnitude_prune
    density = density_from(args.rate, args.density)
    if not args.out:
        raise MinigrokError("--out MASK.npz is required")
    params = io.load_npz(getattr(args, "from"))["params"]
    if not params:
        raise MinigrokError(f"{getattr(args, 'from')!r} holds no parameters")
    masks = magnitude_prune(params, density=density, scope=args.scope)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.size for m in masks.values())
    io.save_npz(args.out, masks=masks, meta={"rate": 1 - density, "density": density,
                                             "scope": args.scope, "from": getattr(args, "from")})
    print(f"kept {kept} of {total} weights (density {kept / total:.4f}, rate {1 - kept / total:.4f}); "
          f"wrote {args.out}")


def cmd_ticket(args):
    from .ticket import format_table, ticket_experiment
    _check_model(args.model)
    cfg = _training_config(args)
    summary = ticket_experiment(cfg, args.out, rate=args.rate, scope=args.scope,
                                dense_stop_after=args.dense_stop_after,
                                rewind_epoch=args.rewind_epoch, quiet=args.quiet)
    print(format_table(summary))
    print(f"wrote {os.path.join(args.out, 'summary.json')} and {os.path.join(args.out, 'accuracy.png')}")


def cmd_analyze(args):
    from .analysis.report import analyze
    result = analyze(args.run_dir, density=args.density, scope=args.scope,
                     max_checkpoints=args.max_checkpoints, quiet=args.quiet)
    print(f"wrote {len(result['files'])} files to {result['dir']}")


def cmd_compare(args):
    from .compare import compare_files, format_table
    print(format_table(compare_files(args.a, args.b)))


def cmd_sweep(args):
    from .sweep import format_table, parse_list, sweep_experiment
    _check_model(args.model)
    rates = parse_list(args.rates, float, "--rates")
    seeds = parse_list(args.seeds, int, "--seeds")
    summary = sweep_experiment(_training_config(args), args.out, rates=rates, seeds=seeds,
                               scope=args.scope, dense_stop_after=args.dense_stop_after,
                               quiet=args.quiet)
    print(format_table(summary))
    print(f"wrote {os.path.join(args.out, 'results.csv')} and {os.path.join(args.out, 'summary.json')}")


def cmd_bench(args):
    """benchmarks/bench.py of the source checkout, in a fresh process so that its thread
    counts are set before NumPy is imported (minigrok itself never imports torch)."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "benchmarks", "bench.py")
    if not os.path.isfile(script):
        raise MinigrokError(f"minigrok bench needs the source checkout: {script!r} does not exist")
    argv = ["--threads", str(args.threads), "--models", args.models, "--repeats", str(args.repeats),
            "--dtype", args.dtype] + ["--no-compile"] * args.no_compile + ["--json"] * args.json
    code = subprocess.call([sys.executable, script, *argv])
    if code:
        raise MinigrokError(f"benchmarks/bench.py exited with status {code}")


def build_parser():
    parser = argparse.ArgumentParser(prog="minigrok", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model on a task (modular by default)")
    _add_training_args(p, TRAIN_DEFAULTS)
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--init", help="start from the parameters of this .npz (e.g. DIR/init.npz)")
    p.add_argument("--mask", help="train with this mask (.npz with mask/<name> arrays)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("prune", help="magnitude-prune a checkpoint into a mask file")
    p.add_argument("--from", required=True, help="checkpoint .npz whose weights are ranked")
    p.add_argument("--rate", type=float, help="fraction of weights removed, in [0, 1)")
    p.add_argument("--density", type=float, help="fraction of weights kept, in (0, 1]")
    p.add_argument("--scope", default="global", help="global (default) or layer")
    p.add_argument("--out", help="mask file to write")
    p.set_defaults(func=cmd_prune)

    from .ticket import TICKET_DEFAULTS
    p = sub.add_parser("ticket", help="dense run, prune, rewind, ticket run, compare (the main job)")
    _add_training_args(p, {**TRAIN_DEFAULTS, "stop_after": TICKET_DEFAULTS["stop_after"]})
    p.add_argument("--rate", type=float, default=TICKET_DEFAULTS["rate"],
                   help="pruning rate, fraction removed (default 0.6: keep 40%%)")
    p.add_argument("--scope", default=TICKET_DEFAULTS["scope"], help="global (default) or layer")
    p.add_argument("--rewind-epoch", type=int, default=TICKET_DEFAULTS["rewind_epoch"],
                   help="rewind to the dense weights at this epoch (default 0: theta_0)")
    p.add_argument("--dense-stop-after", type=int, default=TICKET_DEFAULTS["dense_stop_after"],
                   help="prune the dense net once its test accuracy has held >= --stop-threshold "
                        "for N epochs (default: train it to --epochs and prune there, as the paper)")
    p.add_argument("--out", default="runs/ticket", help="output folder (default runs/ticket)")
    p.set_defaults(func=cmd_ticket)

    p = sub.add_parser("compare", help="max abs / rel difference of every array of two .npz files")
    p.add_argument("a", metavar="A.npz", help="first file (its arrays set the scale)")
    p.add_argument("b", metavar="B.npz", help="second file, with the same names and shapes")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="tickets at several pruning rates and seeds, trained as one stacked model")
    _add_training_args(p, {**TRAIN_DEFAULTS, "stop_after": TICKET_DEFAULTS["stop_after"]})
    p.add_argument("--rates", default="0.0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
                   help="comma-separated pruning rates, fractions removed (default 0.0,...,0.9)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--scope", default=TICKET_DEFAULTS["scope"], help="global (default) or layer")
    p.add_argument("--dense-stop-after", type=int, default=TICKET_DEFAULTS["dense_stop_after"],
                   help="as for ticket: stop the dense runs early (default: train to --epochs)")
    p.add_argument("--out", default="runs/sweep", help="output folder (default runs/sweep)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("bench", help="time minigrok against PyTorch (needs torch; benchmarks/bench.py)")
    p.add_argument("--threads", type=int, default=2, help="threads for both frameworks (2)")
    p.add_argument("--models", default="mlp,transformer", help="comma-separated (both)")
    p.add_argument("--repeats", type=int, default=40, help="timed rounds per case (40)")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--json", action="store_true", help="one JSON object per case")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("analyze", help="Fourier, mask-dynamics, graph, MED and neuron analyses -> DIR/analysis/")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory or a ticket folder (dense/ + ticket/)")
    p.add_argument("--density", type=float, help="density of the masks taken at checkpoints "
                   "(default: the ticket's, from mask.npz; 0.4 for a single run)")
    p.add_argument("--scope", help="global or layer (default: the ticket's, else global)")
    p.add_argument("--max-checkpoints", type=int, default=40,
                   help="analyse at most this many checkpoints per run, evenly spaced (default 40)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_analyze)

    from .experiments.command import add_experiment_parser
    add_experiment_parser(sub, _add_training_args, {**TRAIN_DEFAULTS, "stop_after": TICKET_DEFAULTS["stop_after"]})
    return parser


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.epochs_given = getattr(args, "epochs", None) if "--epochs" in argv else None
    try:
        args.func(args)
    except MinigrokError as exc:
        print(f"minigrok: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minigrok: interrupted; continue with --resume (train) or the same command (ticket)",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
