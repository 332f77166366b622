"""A progress bar for long loops, with no dependency: one updating line on a terminal,
or a plain line every `every` steps when the output is a file or a pipe (CI, logs)."""
import sys
import time


def progress_start(label, start, total, every=1000, stream=None, enabled=True, unit="epoch"):
    """State of a progress display for steps start..total (of `unit`: epochs, or units of
    a sweep)."""
    stream = stream or sys.stderr
    return {"label": label, "start": start, "total": total, "every": max(1, every), "unit": unit,
            "stream": stream, "tty": stream.isatty(), "enabled": enabled,
            "t0": time.perf_counter(), "last_draw": 0.0}


def _bar(fraction, width=24):
    filled = int(round(fraction * width))
    return "#" * filled + "." * (width - filled)


def progress_update(state, step, text=""):
    """Show step (of total) and a short text such as the current accuracies."""
    if not state["enabled"]:
        return
    now = time.perf_counter()
    done = step - state["start"]
    rate = done / (now - state["t0"]) if now > state["t0"] else 0.0
    speed = "starting"
    if rate > 0:
        per = f"{1e3 / rate:.2f} ms/epoch" if state["unit"] == "epoch" else f"{1 / rate:.1f} s/{state['unit']}"
        speed = f"{per} ETA {(state['total'] - step) / rate:.0f}s"
    line = f"{state['label']} [{_bar(step / max(state['total'], 1))}] {step}/{state['total']} {text} {speed}"
    if state["tty"]:
        if now - state["last_draw"] >= 0.1 or step == state["total"]:
            state["stream"].write("\r" + line[:200] + "\033[K")
            state["stream"].flush()
            state["last_draw"] = now
    elif step % state["every"] == 0:
        state["stream"].write(line + "\n")
        state["stream"].flush()


def progress_end(state, text=""):
    """Finish the display with a summary line."""
    if not state["enabled"]:
        return
    elapsed = time.perf_counter() - state["t0"]
    end = "\n" if state["tty"] else ""
    state["stream"].write(f"{end}{state['label']} done in {elapsed:.1f}s {text}\n")
    state["stream"].flush()
