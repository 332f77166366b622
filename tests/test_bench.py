"""The benchmark script runs and prints one JSON object per case with the promised keys
(a tiny run: two rounds, eager torch and JAX where installed; skipped without torch)."""
import importlib.util
import json
import os
import sys

import pytest

pytest.importorskip("torch")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import bench


def test_bench_json(capsys):
    import torch
    threads, blas_threads = torch.get_num_threads(), bench.blas.openblas_info().get("threads")
    try:
        assert bench.main(["--models", "mlp", "--repeats", "2", "--inner", "1", "--warmup", "1",
                           "--no-compile", "--json", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
        if blas_threads:
            bench.blas.set_openblas_threads(blas_threads)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["case"] for r in rows] == ["mlp_train", "mlp_eval"]
    for r in rows:
        assert {"case", "minigrok_ms", "torch_ms", "ratio"} <= set(r)
        assert r["minigrok_ms"] > 0 and r["torch_ms"] > 0
        assert abs(r["ratio"] - r["minigrok_ms"] / r["torch_ms"]) < 0.01 * r["ratio"] + 1e-3
        assert "compiled_ms" not in r
        if importlib.util.find_spec("jax") is not None:
            assert r["jax_ms"] > 0
            assert abs(r["ratio_jax"] - r["minigrok_ms"] / r["jax_ms"]) < 0.01 * r["ratio_jax"] + 1e-3
