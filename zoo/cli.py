"""`zoo` / `python -m zoo`: the command line. Thin: parse arguments, call library functions.

Exit codes: 0 success, 1 the command failed (bad data, broken preset, training
diverged...), 2 bad usage (unknown command, option or model name, invalid config).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from zoo.config import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage: exit code 2."""


def _print(args, payload, text: str | None = None) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        print(
            text
            if text is not None
            else json.dumps(payload, indent=2, ensure_ascii=False, default=str)
        )


# -- commands -------------------------------------------------------------------------------
def cmd_list(args) -> int:
    from zoo import registry

    if getattr(args, "markdown", False):
        print(registry.results_table(), end="")
        return EXIT_OK
    names = registry.list_models(task=args.task, pretrained=True if args.pretrained else None)
    rows = []
    for n in names:
        card = registry.info(n)
        key = card["primary_metric"]
        value = (card.get("metrics") or {}).get(key)
        rows.append(
            {
                "name": n,
                "task": card["task"],
                "pretrained": card["pretrained"],
                "metric": {key: value} if value is not None else None,
                "size_bytes": card.get("size_bytes"),
            }
        )
    lines = [f"{'name':34s} {'task':12s} {'preset':7s} metric"]
    for r in rows:
        m = ", ".join(f"{k}={v:.2f}" for k, v in (r["metric"] or {}).items())
        lines.append(f"{r['name']:34s} {r['task']:12s} {'yes' if r['pretrained'] else 'no':7s} {m}")
    lines.append("\nzoo info NAME: a model card; zoo predict NAME INPUT...: try one.")
    _print(args, rows, "\n".join(lines))
    return EXIT_OK


def cmd_info(args) -> int:
    from zoo import cards, registry

    card = registry.info(args.name)
    _print(args, card, cards.model_card(card, card["primary_metric"]))
    return EXIT_OK


def cmd_predict(args) -> int:
    import zoo
    from zoo import cards
    from zoo.exported import is_export_dir

    # A calibrated captioning preset or export answers with its confidence (or "no
    # confident caption"); an export knows from its assets or its SavedModel outputs.
    if is_export_dir(args.name):  # a directory written by `zoo export`, any format
        model = zoo.load_exported(args.name)
        task, calibrated = model.task, model.calibrated
    else:
        model = zoo.load(args.name)
        task = model.task.name
        calibrated = task == "captioning" and bool(model.assets.get("calibration"))
    # Captioning takes image paths as they are, so an undecodable file is named in the error.
    inputs = list(args.inputs) or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    outputs = model.predict(inputs, with_confidence=True) if calibrated else model.predict(inputs)
    if args.json:
        _print(args, [{"input": i, "output": o} for i, o in zip(inputs, outputs)])
    else:
        for i, o in zip(inputs, outputs):
            print(cards.prediction(task, i, o))
    return EXIT_OK


def cmd_evaluate(args) -> int:
    import zoo

    if args.suite == "behaviour":
        from zoo import behaviour

        result = behaviour.run_suite(args.name)
        _print(args, result, behaviour.format_report(result))
        return EXIT_OK
    model = zoo.load(args.name)
    metrics = model.evaluate(split=args.split, limit=args.limit)
    _print(args, {"name": args.name, "split": args.split, "limit": args.limit, "metrics": metrics})
    return EXIT_OK


def cmd_train(args) -> int:
    from zoo.train import train_from_config

    seeds = args.seeds or [args.seed]
    results = []
    for i, seed in enumerate(seeds):
        # Several seeds: the first run owns --run-dir/--preset-dir (and --publish); the
        # others get their own directories, so no run resumes or overwrites another's.
        run_dir, preset_dir = args.run_dir, args.preset_dir
        if i > 0:
            run_dir = f"{run_dir}-seed{seed}" if run_dir else None
            preset_dir = f"{preset_dir}-seed{seed}" if preset_dir else None
        # Progress goes to stderr so that stdout holds only the result (--json for scripts).
        with contextlib.redirect_stdout(sys.stderr):
            res = train_from_config(
                args.config,
                strategy=args.strategy,
                publish=args.publish and seed == seeds[0],
                seed=seed,
                epochs=args.epochs,
                smoke=args.smoke,
                deterministic=args.deterministic,
                run_dir=run_dir,
                preset_dir=preset_dir,
                verbose=1 if sys.stdout.isatty() else 2,
            )
        results.append(
            {
                "seed": res.seed,
                "metrics": res.metrics,
                "preset": str(res.preset) if res.preset else None,
                "epochs_run": res.epochs_run,
                "best_epoch": res.best_epoch,
                "stopped_early": res.stopped_early,
            }
        )
        print(_train_summary(res, args.smoke), file=sys.stderr)
    if len(results) > 1 and results[0]["preset"]:
        from zoo.train import record_seed_metrics

        record_seed_metrics(results)
    if args.json:
        _print(args, results if len(results) > 1 else results[0])
    elif results[0]["preset"]:
        from zoo.cards import shell_example

        preset = results[0]["preset"]
        example = shell_example(_task_of(preset))
        print(f"Try it:\n  zoo predict {preset} {example}\n  zoo evaluate {preset}")
    return EXIT_OK


def _train_summary(res, smoke: bool) -> str:
    """What a run did, in words: why it ended, the seed, the metric and its usual spread."""
    from zoo import registry

    name, cfg = res.config["name"], res.config["train"]
    key = registry.zoo_config.PRIMARY_METRICS.get(res.config["task"], "")
    if res.stopped_early:
        ended = (
            f"early stopping ended the run at epoch {res.epochs_run} of {cfg['epochs']} "
            f"(no better {key or 'validation'} for {cfg['patience']} epochs)"
        )
    else:
        ended = f"ran all {res.epochs_run} epochs"
    lines = [f"{name}, seed {res.seed}: {ended}; kept the weights of epoch {res.best_epoch}."]
    value = res.metrics.get(key)
    if value is not None:
        n = res.metrics.get("examples")
        lines.append(
            f"Test {key}: {value:.2f}"
            + (f" on {n} examples" if n else "")
            + (" (smoke run: tiny data, not comparable with the presets)" if smoke else "")
        )
    seeds = (registry.info(name).get("metrics_seeds") or {}) if registry.preset_dir(name) else {}
    if key in seeds.get("std", {}):
        lines.append(
            f"The published {name} varies by ± {seeds['std'][key]:.2f} {key} (std over seeds "
            f"{', '.join(str(s) for s in seeds['seeds'])}): compare runs over several seeds."
        )
    if res.preset:
        lines.append(f"Preset written to {res.preset}")
    return "\n".join(lines)


def _task_of(name_or_preset: str) -> str:
    """The task of a registered name or a preset directory (reads JSON/YAML only)."""
    config = Path(name_or_preset) / "config.json"
    if config.is_file():
        return json.loads(config.read_text())["task"]
    from zoo import registry

    return registry.get_config(name_or_preset)["task"]


def cmd_export(args) -> int:
    from zoo import cards
    from zoo.export import describe, export

    if args.quantize and args.format != "tflite":
        raise UsageError(
            f"argument --quantize: {args.quantize!r} is available with --format tflite only, "
            f"got --format {args.format}."
        )
    path = export(
        args.name,
        args.directory,
        format=args.format,
        quantize=args.quantize,
        overwrite=args.overwrite,
    )
    task = _task_of(args.name)
    example = repr(cards.EXAMPLES[task]) if task in ("sentiment", "ner", "translation") else None
    summary = describe(path, example=example)
    kind = args.format + (f", {summary['quantization']['mode']}" if args.quantize else "")
    text = [f"Exported {args.name} ({kind}) to {path}", "Signatures:"]
    for sig, spec in summary["signatures"].items():
        inputs = ", ".join(f"{k}: {v}" for k, v in spec["inputs"].items())
        text.append(f"  {sig}({inputs}) -> {', '.join(spec['outputs'])}")
    if args.quantize:
        q = summary["quantization"]
        text.append(
            f"Quantization: {q['mode']} ({q['why']}); {q['metric']} float {q['float']:.2f}, "
            f"int8 {q['int8']:.2f} on {q['subset']['examples']} {q['subset']['split']} examples"
        )
    how = {
        "saved_model": "Call it from Python (plain TensorFlow, no zoo needed):",
        "tflite": "Call it from Python (raw text in, via the zoo's client; or see export.json):",
        "onnx": "Call it from Python (raw text in, via the zoo's client; or see export.json):",
    }[args.format]
    text += [how, summary["snippet"], f"Or: zoo predict {path} INPUT..."]
    _print(
        args,
        {"name": args.name, "path": str(path), "format": args.format, **summary},
        "\n".join(text),
    )
    return EXIT_OK


def cmd_bench(args) -> int:
    import importlib

    module, fn = {
        "layers": ("zoo.bench", "bench_layers"),
        "data": ("zoo.bench_serve", "bench_data"),
        "serve": ("zoo.bench_serve", "bench_serve"),
    }[args.what]
    kwargs = {}
    if args.what == "layers":  # the layer benchmark's own options
        if args.shapes:
            kwargs["shapes"] = args.shapes.split(",")
        if args.kinds:
            kwargs["kinds"] = args.kinds.split(",")
        if args.repeats:
            kwargs["repeats"] = args.repeats
    result = getattr(importlib.import_module(module), fn)(**kwargs)
    if args.json:
        _print(args, result)
    return EXIT_OK


def cmd_data(args) -> int:
    import importlib

    module = importlib.import_module(f"zoo.data.{_data_module(args.name)}")
    if args.action == "info":
        result = module.info(args.name) if _takes_name(module.info) else module.info()
    else:
        result = module.fetch_all() if hasattr(module, "fetch_all") else module.info()
    _print(args, result)
    return EXIT_OK


def cmd_calibrate(args) -> int:
    from zoo.tasks.captioning import calibrate

    result = calibrate.calibrate(args.name, write=args.write)
    payload = {k: result[k] for k in ("name", "report", "written")}
    _print(args, payload, calibrate.format_report(result))
    return EXIT_OK


def _takes_name(fn) -> bool:
    import inspect

    return len(inspect.signature(fn).parameters) > 0


DATASETS = {
    "movie_reviews": "sentiment",
    "mr": "sentiment",
    "tweets": "sentiment",
    "amazon": "sentiment",
    "nyt": "sentiment",
    "sentiment": "sentiment",
    "conll2003": "ner",
    "ner": "ner",
    "spa_eng": "translation",
    "translation": "translation",
    "emoji": "captioning",
    "captioning": "captioning",
    "flickr8k": "captioning",
    "glove": "glove",
}


def _data_module(name: str) -> str:
    if name not in DATASETS:
        raise UsageError(f"Unknown dataset {name!r}; expected one of {sorted(DATASETS)}.")
    return DATASETS[name]


def cmd_demo(args) -> int:
    from zoo.demo import run_demo

    return run_demo()


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="RNN Zoo: recurrent models by name.")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's own logs (or ZOO_VERBOSE=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="machine-readable JSON output")
        p.set_defaults(fn=fn)
        return p

    p = add("list", cmd_list, "list registered models")
    p.add_argument("--task", choices=["sentiment", "ner", "captioning", "translation"])
    p.add_argument("--pretrained", action="store_true", help="only models with a preset")
    p.add_argument(
        "--markdown", action="store_true", help="the README results table of the presets"
    )
    p = add("info", cmd_info, "model card of a registered model")
    p.add_argument("name")
    p = add("predict", cmd_predict, "predict on raw inputs (text, or image paths for captioning)")
    p.add_argument("name", help="a model name, a preset directory, or an export directory")
    p.add_argument("inputs", nargs="*", help="inputs; read lines from stdin when none")
    p = add("evaluate", cmd_evaluate, "evaluate a pretrained model on its test split")
    p.add_argument("name")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--limit", type=int, default=None, help="first N examples only")
    p.add_argument(
        "--suite",
        default="split",
        choices=["split", "behaviour"],
        help="split: metrics on --split (default); behaviour: the CheckList-style suite "
        "(tests/behaviour), pass rate per category",
    )
    p = add(
        "calibrate",
        cmd_calibrate,
        "fit and measure a captioning preset's confidence (calibration on validation, "
        "report on test, noise and drawings)",
    )
    p.add_argument("name", help="a captioning model name or preset directory")
    p.add_argument(
        "--write", action="store_true", help="store assets/calibration.json in the preset"
    )
    p = add("train", cmd_train, "train a model from configs/NAME.yaml and write its preset")
    p.add_argument("config")
    p.add_argument("--strategy", default="default", choices=["default", "mirrored", "multiworker"])
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", help="train once per seed; publish the first")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--smoke", action="store_true", help="tiny data slice (tests, notebooks)")
    p.add_argument("--deterministic", action="store_true", help="bitwise-reproducible training")
    p.add_argument("--publish", action="store_true", help="write the preset to zoo/pretrained/NAME")
    p.add_argument("--run-dir", default=None, help="checkpoints/backup/logs directory")
    p.add_argument("--preset-dir", default=None, help="where to write the preset")
    p = add("export", cmd_export, "export a model as a SavedModel, TFLite or ONNX")
    p.add_argument("name")
    p.add_argument("directory")
    p.add_argument("--format", default="saved_model", choices=["saved_model", "tflite", "onnx"])
    p.add_argument(
        "--quantize",
        default=None,
        choices=["int8"],
        help="tflite only: int8 (full-integer where it holds the metric, else dynamic-range)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing directory")
    p = add("bench", cmd_bench, "benchmarks: layers, data pipelines, serving")
    p.add_argument("what", choices=["layers", "data", "serve"])
    p.add_argument("--shapes", help="layers: e.g. 64x100x64x256,32x500x32x128")
    p.add_argument("--kinds", help="layers: e.g. lstm,gru,simple_rnn,bilstm")
    p.add_argument("--repeats", type=int, help="layers: repeats per measurement (default 7)")
    p = add("data", cmd_data, "dataset information and fetching")
    p.add_argument("action", choices=["info", "fetch"])
    p.add_argument("name", help=f"one of {sorted(DATASETS)}")
    add("demo", cmd_demo, "the end-to-end demo (README's main command)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    if args.verbose:
        os.environ["ZOO_VERBOSE"] = "1"
    try:
        return args.fn(args)
    except ConfigError as e:  # one line naming the file, the key, what is allowed
        source = getattr(args, "config", None)
        print(f"zoo: error: {e.with_source(source) if source else e}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyError, ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        from zoo.registry import UnknownModelError

        msg = str(e) if not isinstance(e, KeyError) or isinstance(e, UnknownModelError) else repr(e)
        print(f"zoo: error: {msg}", file=sys.stderr)
        usage = isinstance(e, (UnknownModelError, FileNotFoundError, FileExistsError)) or (
            isinstance(e, ValueError) and "config" in msg
        )
        return EXIT_USAGE if usage else EXIT_FAILURE
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one readable line, not a traceback
        print(f"zoo: error: {type(e).__name__}: {e}", file=sys.stderr)
        if os.environ.get("ZOO_DEBUG"):
            raise
        return EXIT_FAILURE
