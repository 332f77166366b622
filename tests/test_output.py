"""What the commands print: tables and result lines on stdout, progress and logs on stderr;
times that were not reached read `never`, speed-ups one decimal with an x, rates at least
one decimal (0.0 next to 0.6). A few seconds in all."""
import re

from folders import assert_readable_png

from minigrok import io
from minigrok.cli import main
from minigrok.fmt import fmt_acc, fmt_epoch, fmt_rate, fmt_speedup
from minigrok.recipes import no_decay, rate_sweep, ticket

# settings that grok in a few hundred epochs (tests/test_experiments.py)
GROKS = ["--p", "23", "--split", "all", "--frac", "0.6", "--lr", "1e-2", "--epochs", "300",
         "--eval-every", "10", "--checkpoint-every", "100", "--stop-after", "100"]
# progress or log lines: the bar, its end line, the recipes' and analyze's logs
PROGRESS = re.compile(r"\[minigrok\]|\[data\]| done in |\[[#.]{24}\]|analysing")


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def assert_only_results(out, err):
    """stdout holds no progress line and no None; stderr holds the progress."""
    assert not any(PROGRESS.search(line) for line in out.splitlines()), out
    assert "None" not in out, out
    assert PROGRESS.search(err), err


def test_format_helpers():
    assert fmt_epoch(None) == "never" and fmt_epoch(1010) == "1010"
    assert fmt_speedup(26.491803278688526) == "26.5x" and fmt_speedup(None) == "n/a"
    assert [fmt_rate(r) for r in (0, 0.0, 0.6, 0.25, 0.81, 1)] == ["0.0", "0.0", "0.6", "0.25", "0.81", "1.0"]
    assert fmt_acc(0.96774193) == "0.9677"


def test_train_prints_never_for_a_time_not_reached(tmp_path, capsys):
    out, err = run_cli(["train", "--p", "13", "--epochs", "20", "--out", str(tmp_path / "r")], capsys)
    assert_only_results(out, err)
    assert len(out.splitlines()) == 1 and "t_gen(0.99) = never" in out


def test_ticket_prints_its_table_on_stdout(tmp_path, capsys):
    out, err = run_cli(["ticket", *GROKS, "--out", str(tmp_path)], capsys)
    assert_only_results(out, err)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["run", "t_mem@.99"] and lines[1].startswith("dense")
    speedups = [line.split(": ", 1)[1] for line in lines if line.startswith("speed-up")]
    assert len(speedups) == 2
    for text in speedups:  # 3.0x, or n/a with its reason
        assert re.fullmatch(r"\d+\.\dx", text) or text.startswith("n/a ("), text
    summary = io.load_json(str(tmp_path / "summary.json"))
    if summary["ticket"]["t_gen"] is None:
        assert "never" in lines[2]
    assert lines[-1] == f"wrote {tmp_path}/: summary.json, mask.npz, accuracy.png"


def test_analyze_says_how_to_get_denser_curves():
    from minigrok.analysis.report import checkpoint_note
    sparse = [(0, "init.npz"), (1000, "epoch_1000.npz"), (1400, "final.npz")]
    note = checkpoint_note("ticket", {"checkpoints": sparse, "found": sparse})
    assert note == "ticket: 3 checkpoints, epochs 0-1400 (train with --checkpoint-every 100 for denser curves)"
    dense = [(e, "x") for e in range(0, 500, 100)]
    assert checkpoint_note("dense", {"checkpoints": dense, "found": dense}) == "dense: 5 checkpoints, epochs 0-400"


def test_sweep_prints_rates_with_one_decimal_and_names_its_figure(tmp_path, capsys):
    out, err = run_cli(["sweep", *GROKS, "--seeds", "0", "--rates", "0,0.5", "--workers", "1",
                        "--out", str(tmp_path)], capsys)
    assert_only_results(out, err)
    rows = [line.split()[0] for line in out.splitlines()[1:3]]
    assert rows == ["rate=0.0", "rate=0.5"]
    assert (re.search(r"fastest rate \d\.\d+: mean t_gen \d+, mean speed-up (\d+\.\dx|n/a)", out)
            or "fastest rate: none (no rate > 0 reached t_gen(0.99) on every seed)" in out), out
    assert out.splitlines()[-1] == f"wrote {tmp_path}/: results.csv, summary.json, metrics/, rate-sweep.png"
    assert_readable_png(str(tmp_path / "rate-sweep.png"))


def test_experiment_prints_its_tables_on_stdout(tmp_path, capsys):
    out, err = run_cli(["experiment", "ops", *GROKS, "--seeds", "0", "--ops", "add", "--workers", "1",
                        "--out", str(tmp_path)], capsys)
    assert_only_results(out, err)
    [add] = [line for line in out.splitlines() if line.startswith("add ") and "dense" not in line
             and "ticket" not in line]
    cells = add.split()
    assert all(re.fullmatch(r"\d+|never|\d+/\d+|-|\d+\.\dx|\d\.\d{3}", c) for c in cells[1:]), add
    assert out.splitlines()[-1] == f"wrote {tmp_path / 'ops'}/: results.csv, summary.json, metrics/, ops.png"


def test_prune_and_compare_print_their_result_on_stdout(tmp_path, capsys):
    run_cli(["train", "--p", "11", "--epochs", "4", "--quiet", "--out", str(tmp_path / "r")], capsys)
    out, err = run_cli(["prune", "--from", str(tmp_path / "r" / "final.npz"), "--rate", "0.6",
                        "--out", str(tmp_path / "m.npz")], capsys)
    assert len(out.splitlines()) == 1 and "(density 0.4000, rate 0.6000)" in out and err == ""
    out, err = run_cli(["compare", str(tmp_path / "r" / "init.npz"), str(tmp_path / "r" / "final.npz"), "--shared"],
                       capsys)
    assert "W_E" in out and "None" not in out and err == ""


def test_reports_round_for_people():
    """The report functions on summaries with raw floats: no long decimals, no None."""
    fastest = {"rate": 0.5, "mean_t_gen": 448.3333, "mean_speedup": 26.491803278688526}
    sweep = {"by_condition": {"rate=0.0 (dense)": {
        "0.99": {"mean": 11075.0, "std": 4097.2, "reached": 3, "n": 3, "values": []},
        "0.95": {"mean": None, "std": None, "reached": 0, "n": 3, "values": []},
        "final_test_acc": 0.99912345}}, "seeds": [0, 1, 2], "wall_time_s": 12.3, "fastest": fastest,
        "results": [{"rate": rate, "seed": seed, "t_gen": t, "dense_t_gen": dense, "speedup": dense / t}
                    for seed, dense in enumerate([8515, 8910, 15800])
                    for rate, t in ((0.0, dense), (0.5, [390, 366, 589][seed]))]}
    text = rate_sweep.report(sweep)
    assert "mean speed-up 26.5x" in text and "fastest rate 0.5: mean t_gen 448," in text
    assert "t_gen(0.99) per seed:\nseed     0.0     0.5\n0       8515     390\n" in text
    assert ("rate 0.5, the 3 of 3 seeds where dense and ticket reached 0.99: dense t_gen median 8910 "
            "[8712-12355] (8515-15800); ticket t_gen median 390 [378-490] (366-589); speed-up "
            "median 24.3x [23.1x-25.6x] (21.8x-26.8x)") in text
    assert "never (0/3)" in text and "0.9991" in text and "None" not in text
    critical = no_decay.report({**sweep, "grok_threshold": "0.95", "rates": [0.7, 0.8, 0.9],
                                "critical_rate": {0: 0.79, 1: None}, "critical_rate_mean": 0.79})
    assert "seed 0 0.79, seed 1 below 0.7; mean 0.79 (paper 0.81)" in critical
    run = {"t_mem": 89, "final_test_acc": 1.0, "wall_time_s": 3.2,
           "thresholds": {"0.99": {"t_gen": None}, "0.95": {"t_gen": 285}}}
    table = ticket.report({"dense": {**run, "thresholds": {"0.99": {"t_gen": 8515}, "0.95": {"t_gen": 7939}}},
                           "ticket": run, "config": {}, "speedups": {"0.99": None, "0.95": 7939 / 285}})
    assert "never" in table and "speed-up of t_gen(0.95): 27.9x" in table and "None" not in table
