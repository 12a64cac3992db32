"""`zoo.bench.bench_layers`: the layer benchmark runs on a tiny shape, its rows are
consistent, it writes JSON, and bad options are rejected clearly."""

import io
import json

import pytest

from zoo import bench


def test_bench_layers_writes_consistent_rows_as_json(tmp_path):
    path = tmp_path / "bench.json"
    table = io.StringIO()
    rows = bench.bench_layers(
        shapes=["4x3x2x5"], kinds=["simple_rnn", "gru"], repeats=2, json_path=path, out=table
    )
    assert [row["layer"] for row in rows] == ["simple_rnn", "gru"]
    saved = json.loads(path.read_text())
    assert saved["rows"] == rows
    assert saved["machine"]["repeats"] == 2
    for row in rows:
        assert row["shape"] == "4x3x2x5"
        for key in ("fwd_ours", "train_keras", "fwd_limit", "fwd_ratio_cpu", "train_ratio_cpu"):
            assert row[key] > 0
        # The limit is the matmul FLOPs at the measured matmul speed.
        gates = {"simple_rnn": 1, "gru": 3}[row["layer"]]
        flops = 2 * 4 * 3 * (2 + 5) * gates * 5
        assert row["fwd_limit"] == pytest.approx(1000 * flops / (row["matmul_gflops"] * 1e9))
        assert row["fwd_vs_limit"] == pytest.approx(row["fwd_ours"] / row["fwd_limit"])
    lines = table.getvalue().splitlines()
    assert "ratio" in lines[1] and lines[2].startswith("simple_rnn")


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"shapes": ["64x100x64"]}, "shapes"),
        ({"shapes": ["0x1x1x1"]}, "shapes"),
        ({"kinds": ["lstmm"]}, "kinds"),
        ({"repeats": 0}, "repeats"),
    ],
)
def test_bench_layers_rejects_bad_options(kwargs, argument):
    with pytest.raises(ValueError, match=f"argument '{argument}'"):
        bench.bench_layers(**kwargs)


def test_bench_main_reports_bad_shape_in_one_line(capsys):
    assert bench.main(["--shapes", "64x100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'shapes'" in err[0] and "64x100" in err[0]


def test_bench_layers_has_no_pytorch_column_without_torch(monkeypatch):
    monkeypatch.setattr(bench, "_torch", lambda: None)
    table = io.StringIO()
    (row,) = bench.bench_layers(shapes=["2x3x2x4"], kinds=["gru"], repeats=1, out=table)
    assert "fwd_torch" not in row and "torch" not in table.getvalue()


def test_bench_layers_adds_a_pytorch_column_when_torch_is_importable():
    pytest.importorskip("torch")  # optional: not in requirements
    table = io.StringIO()
    rows = bench.bench_layers(shapes=["2x3x2x4"], kinds=["lstm", "bilstm"], repeats=1, out=table)
    for row in rows:
        assert row["fwd_torch"] > 0 and row["train_torch"] > 0
    header = table.getvalue().splitlines()[1]
    assert header.rstrip().endswith("torch fwd   train")
