"""The `minigrok` command line: what train, prune, ticket, sweep, experiment, compare,
bench and analyze do, from the parsed arguments to the settings they name (the grammar,
every option with its default: parser.py).

Every bad argument ends with one line `minigrok: error: ...` and exit status 2, before any
file is written.
"""
import os
import shlex
import sys

import numpy as np

from . import evaluator, io
from .data import TASK_DEFAULTS
from .backend import env_backend
from .errors import MinigrokError
from .fmt import fmt_acc, fmt_epoch
from .models import MODELS
from .parser import build_parser, given_options
from .recipes import EXPERIMENTS, RECIPES, report_files, run_recipe, settings_record
from .recipes.common import parse_list
from .runs import TRAIN_DEFAULTS, resume_run, train_run, with_defaults
from .settings import check_setting
from .threads import set_blas_threads

RESUME_OPTIONS = {"resume", "epochs", "report_threshold", "quiet", "blas_threads"}  # all `--resume` takes


# the options only some tasks read: given for another task they would be written into
# its config.json and reports while changing nothing, so they are refused
TASK_OPTIONS = {"op": ("modular",), "p": ("modular",), "frac": ("modular",), "split": ("modular",),
                "n_train": ("mnist", "regression", "parity"), "data_dir": ("mnist",)}


def _refuse_options_the_task_ignores(args):
    task = args.task
    if task not in TASK_DEFAULTS:
        return  # with_defaults names the unknown task
    for name, tasks in TASK_OPTIONS.items():
        if name in args.given and task not in tasks:
            flag, value = "--" + name.replace("_", "-"), getattr(args, name)
            raise MinigrokError(f"{flag} {value} is not used by the {task} task: it is an option of "
                                f"the {' / '.join(tasks)} task{'s' if len(tasks) > 1 else ''}")


def _training_config(args):
    """The run settings given on the command line; unset task-dependent options (model,
    epochs, lr, wd) are left out so that the task's defaults apply (runs.with_defaults)."""
    cfg = {
        "task": args.task, "op": args.op, "p": args.p, "frac": args.frac,
        "dtype": args.dtype, "backend": args.backend,
        "betas": [args.beta1, args.beta2], "eps": TRAIN_DEFAULTS["eps"],
        "stop_after": args.stop_after,
    }
    optional = {"model": args.model, "epochs": args.epochs, "lr": args.lr, "weight_decay": args.wd,
                "data_dir": args.data_dir, "n_train": args.n_train, "kappa": args.kappa,
                "report_threshold": args.report_threshold, "eval_every": args.eval_every,
                "stop_threshold": args.stop_threshold, "split": args.split,
                "seed": getattr(args, "seed", None)}
    cfg.update({k: v for k, v in optional.items() if v is not None})
    _refuse_options_the_task_ignores(args)
    if args.d_model is not None:
        if cfg.get("model") != "transformer":
            model = cfg.get("model") or TASK_DEFAULTS.get(args.task, {}).get("model", "mlp")
            raise MinigrokError(f"--d-model {args.d_model} is not allowed for model "
                                f"{model!r}: it sets the transformer's width")
        check_setting("d_model", args.d_model)
        cfg.update(d_model=args.d_model, d_head=args.d_model, d_mlp=args.d_model)
    for name in ("checkpoint_every", "report_threshold"):  # 'none' is a value here, not "left unset"
        if name in args.given:
            cfg[name] = getattr(args, name)
    if cfg.get("model") is not None and cfg["model"] not in MODELS:
        raise MinigrokError(f"unknown model {cfg['model']!r}; allowed: {', '.join(sorted(MODELS))}")
    return with_defaults(cfg)


# ----------------------------------------------------------------------------------------
# the commands

def cmd_train(args):
    if args.resume:
        extra = sorted(args.given - RESUME_OPTIONS)
        if extra:
            flags = ", ".join("--" + d.replace("_", "-") for d in extra)
            raise MinigrokError(f"--resume continues a run with its own settings: {flags} cannot "
                                "change them (only --epochs and --report-threshold may be given)")
        threshold = {"report_threshold": args.report_threshold} if "report_threshold" in args.given else {}
        result = resume_run(args.resume, epochs=args.epochs, quiet=args.quiet, **threshold)
    else:
        if not args.out:
            raise MinigrokError("--out DIR is required (or --resume DIR)")
        cfg = {**_training_config(args), "init": args.init, "mask": args.mask}
        result = train_run(cfg, args.out, quiet=args.quiet)
    s = result["summary"]
    print(f"t_mem(0.99) = {fmt_epoch(s['t_mem'])}, t_gen(0.99) = {fmt_epoch(s['t_gen'])}, "
          f"final test acc = {fmt_acc(s['final']['test_acc'])}; wrote {result['dir']}")


def _check_model_parameters(params, where):
    """The weights of one whole minigrok model, real and finite: the MLP's or the
    Transformer's names, or W_0 .. W_{L-1} of an fc net; a one-line refusal otherwise
    (a data split, a partial or NaN checkpoint is not a model to prune)."""
    from .models import mlp, transformer
    from .runs import check_weights
    names = set(params)
    fc = {f"W_{i}" for i in range(len(names))}
    if names not in (set(mlp.PARAM_NAMES), set(transformer.PARAM_NAMES), fc):
        raise MinigrokError(f"{where!r} holds {', '.join(sorted(names)[:6])}: not the weights of a "
                            f"minigrok model (the MLP's {', '.join(mlp.PARAM_NAMES)}, the Transformer's, "
                            "or W_0 .. W_{L-1} of an fc net); give a checkpoint such as RUN/final.npz")
    check_weights(params, f"weights of {where}")


def cmd_prune(args):
    from .pruning.magnitude import SCOPES, density_from, magnitude_prune
    from .store import check_output_folder
    density = density_from(args.rate, args.density)
    if args.scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {args.scope!r}; allowed: {', '.join(SCOPES)}")
    if not args.out:
        raise MinigrokError("--out MASK.npz is required")
    if os.path.isdir(args.out):
        raise MinigrokError(f"--out {args.out!r} is a folder: give the mask file to write")
    check_output_folder(os.path.dirname(os.path.abspath(args.out)), "--out's folder")
    source = getattr(args, "from")
    params = io.load_npz(source)["params"]
    if not params:
        raise MinigrokError(f"{source!r} holds no parameters")
    _check_model_parameters(params, source)
    masks = magnitude_prune(params, density=density, scope=args.scope)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.size for m in masks.values())
    io.save_npz(args.out, masks=masks, meta={"rate": 1 - density, "density": density,
                                             "scope": args.scope, "from": getattr(args, "from")})
    print(f"kept {kept} of {total} weights (density {kept / total:.4f}, rate {1 - kept / total:.4f}); "
          f"wrote {args.out}")


def _recipe_options(args):
    """The recipe options a subcommand's parser has, as run_recipe's opts."""
    names = {"rate": "rate", "scope": "scope", "rewind_epoch": "rewind_epoch",
             "dense_stop_after": "dense_stop_after", "from_epoch": "from_epoch",
             "ep_epochs": "ep_epochs", "ep_lr": "ep_lr", "grok_threshold": "grok_threshold",
             "late_epochs": "late_epochs"}
    opts = {key: getattr(args, dest) for dest, key in names.items()
            if getattr(args, dest, None) is not None}
    if "dense_stop_after" in args.given:  # given as none: the paper's policy, not "unset"
        opts["dense_stop_after"] = args.dense_stop_after
    if getattr(args, "rates", None) is not None:
        opts["rates"] = parse_list(args.rates, float, "--rates")
    if getattr(args, "held", None) is not None:
        opts["held"] = parse_list(args.held, int, "--held")
    if getattr(args, "at", None) is not None:
        opts["at"] = parse_list(args.at, int, "--at")
    if getattr(args, "ops", None) is not None:
        opts["ops"] = [o.strip() for o in args.ops.split(",") if o.strip()]
        if not opts["ops"]:
            raise MinigrokError("--ops is empty")
    return opts


# where each recipe command keeps its units (root) and writes its report (folder)
RECIPE_COMMANDS = {
    "ticket": lambda args: ("ticket", args.out, args.out, [args.seed]),
    "sweep": lambda args: ("rate-sweep", args.out, args.out, args.seeds),
    "experiment": lambda args: (args.name, args.out, os.path.join(args.out, args.name), args.seeds),
}


RECIPE_OPTIONS = ("rate", "scope", "rewind_epoch", "dense_stop_after", "from_epoch", "ep_epochs",
                  "ep_lr", "grok_threshold", "rates", "at", "ops", "held", "late_epochs")


def _recipe_call(args):
    """(name, root, folder, seeds, cfg, opts): what a recipe command runs, from its arguments."""
    name, root, folder, seeds = RECIPE_COMMANDS[args.command](args)
    if name not in RECIPES:
        raise MinigrokError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    taken = RECIPES[name].OPTIONS
    unused = sorted("--" + d.replace("_", "-") for d in args.given
                    if (d in RECIPE_OPTIONS and d not in taken) or d in getattr(RECIPES[name], "IGNORES", ()))
    if unused:
        raise MinigrokError(f"{name} does not take {', '.join(unused)}")
    opts = {k: v for k, v in _recipe_options(args).items() if k in taken}
    return name, root, folder, seeds, _training_config(args), opts


def command_settings(command):
    """The settings (recipes.settings_record) that the recipe command line `command`
    ('minigrok ticket --seed 0 ...') runs with this code; nothing is read or written. A
    results record pins them: tests/test_provenance.py fails a record whose command now
    resolves to other settings (e.g. after a default changed)."""
    argv = shlex.split(command)
    if argv[:1] != ["minigrok"] or len(argv) < 2 or argv[1] not in RECIPE_COMMANDS:
        raise MinigrokError(f"{command!r} is not a minigrok ticket, sweep or experiment command")
    parser = build_parser()
    args = parser.parse_args(argv[1:])
    args.given = given_options(parser, argv[1:])
    name, _, _, seeds, cfg, opts = _recipe_call(args)
    return settings_record(name, cfg, seeds, opts)


def cmd_recipe(args):
    from .provenance import check_record_path, write_record
    name, root, folder, seeds, cfg, opts = _recipe_call(args)
    recording = args.record is not None  # --record '' is refused, not ignored
    started = check_record_path(args.record, out=root) if recording else None  # the code it runs
    settings = settings_record(name, cfg, seeds, opts) if recording else None
    summary = run_recipe(name, cfg, root, folder, seeds, opts, args.quiet,
                         workers=getattr(args, "workers", 1), scheduler=getattr(args, "scheduler", None),
                         blas_threads=args.blas_threads)
    report = RECIPES[name].report(summary)
    print(report)
    print(f"wrote {os.path.join(folder, '')}: {', '.join(report_files(name, summary))}")
    if recording:
        write_record(args.record, args.argv, report, [summary["config"]["model"]], started=started,
                     settings=settings)
        print(f"wrote the results record {args.record}", file=sys.stderr)


def cmd_analyze(args):
    from .analysis.report import analyze
    result = analyze(args.run_dir, density=args.density, scope=args.scope,
                     max_checkpoints=args.max_checkpoints, quiet=args.quiet)
    names = [os.path.basename(f) for f in result["files"]]
    print(f"wrote {os.path.join(result['dir'], '')}: {', '.join(names)}")


def cmd_compare(args):
    from .compare import compare_files, format_table
    print(format_table(compare_files(args.a, args.b, shared=args.shared)))


def cmd_bench(args):
    """benchmarks/bench.py of the source checkout, in a fresh process so that its thread
    counts are set before NumPy and JAX are imported (minigrok itself never imports torch
    or JAX)."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "benchmarks", "bench.py")
    if not os.path.isfile(script):
        raise MinigrokError(f"minigrok bench needs the source checkout: {script!r} does not exist")
    argv = ["--threads", str(args.threads), "--models", args.models, "--repeats", str(args.repeats),
            "--dtype", args.dtype] + ["--no-compile"] * args.no_compile + ["--no-jax"] * args.no_jax \
        + ["--json"] * args.json
    code = subprocess.call([sys.executable, script, *argv])
    if code:
        raise MinigrokError(f"benchmarks/bench.py exited with status {code}")


COMMANDS = {"train": cmd_train, "prune": cmd_prune, "ticket": cmd_recipe, "sweep": cmd_recipe,
            "experiment": cmd_recipe, "compare": cmd_compare, "bench": cmd_bench,
            "analyze": cmd_analyze}  # what each subcommand of parser.build_parser does


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.given, args.argv = given_options(parser, argv), argv
        if hasattr(args, "blas_threads"):  # the commands that train
            set_blas_threads(check_setting("blas_threads", args.blas_threads))  # before any numerical work
            evaluator.setting()  # MINIGROK_EVAL_PROCESS: refused here, before anything is written
        if "backend" in args and "backend" not in args.given:  # its default came from MINIGROK_BACKEND
            env_backend()
        with np.errstate(all="ignore"):  # a NaN or inf loss is caught and reported as divergence
            COMMANDS[args.command](args)
    except MinigrokError as exc:
        print(f"minigrok: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("minigrok: error: out of memory: give a smaller --p, fewer models or float32; "
              "nothing after the last checkpoint was written", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"minigrok: error: cannot write or read{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minigrok: interrupted; run the same command again to continue from the last "
              "checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
