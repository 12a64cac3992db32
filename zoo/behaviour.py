"""Behavioural test suites (CheckList-style, Ribeiro et al. 2020) for the text presets.

    from zoo import behaviour
    result = behaviour.run_suite("sentiment_lstm_mr")            # or a loaded ZooModel
    print(behaviour.format_report(result))

    python -m zoo.behaviour sentiment_lstm_mr                    # one preset, as a table
    python -m zoo.behaviour --all --write-metadata --markdown    # every text preset -> its
                                        # metadata.json "behaviour"; tables for docs/behaviour.md

The cases live in ``tests/behaviour/<task>.jsonl`` (written by
``tests/behaviour/generate.py``); each has an ``id``, a ``category`` and a test ``type``:

- MFT (minimum functionality): one input and what the answer must be.
- INV (invariance): two inputs whose answers must agree (a name swapped, casing changed).
- DIR (directional): [base, changed]; the positive probability must not move the wrong
  way by more than `DIR_TOLERANCE`.

Pass rules per task (what "agree" and "right" mean):

- sentiment: MFT label equal; INV labels equal; DIR ``not_lower``:
  ``p(changed) >= p(base) - DIR_TOLERANCE`` with ``p`` the positive probability
  (``not_higher`` mirrors it).
- ner: MFT the set of predicted (entity text, type) equals the expected one; INV the tag
  sequences are identical (swapped names have the same number of tokens, so only the
  swapped span's tokens differ).
- translation: MFT with ``expected`` references: the output after `normalize` (lower
  case, contractions expanded, punctuation dropped) equals one reference's; MFT with
  ``required``: every required string occurs verbatim (case-sensitive, whole word); INV
  name swap: each output contains its own name and the first output with the name
  replaced equals the second (normalised), i.e. the name is kept and nothing else moves.

Only the public `ZooModel.predict` is used, on batches of distinct inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SUITE_DIR = Path(__file__).resolve().parent.parent / "tests" / "behaviour"
TASKS = ("sentiment", "ner", "translation")
DIR_TOLERANCE = 0.1  # CheckList's sentiment DIR tests allow the same slack
MAX_FAILURES = 5  # failing examples kept per category
COMMAND = "python -m zoo.behaviour --all --write-metadata --markdown"


def load_suite(task: str, suite_dir: str | Path | None = None) -> list[dict]:
    """The cases of one task's suite, in file order.

    Returns:
        list of case dicts (``id``, ``category``, ``type``, ...), one per JSON line.
    """
    if task not in TASKS:
        raise ValueError(
            f"Received an invalid value for argument 'task', expected one of {list(TASKS)}, "
            f"got {task!r}."
        )
    path = Path(suite_dir or SUITE_DIR) / f"{task}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"No behaviour suite at '{path}'; the suites live in a source checkout under "
            "tests/behaviour/ (regenerate with `python tests/behaviour/generate.py`)."
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def suite_sha256(task: str, suite_dir: str | Path | None = None) -> str:
    """First 12 hex digits of the suite file's sha256 (which cases a number refers to)."""
    data = (Path(suite_dir or SUITE_DIR) / f"{task}.jsonl").read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


# -- scoring ------------------------------------------------------------------------------
_CONTRACTIONS = [
    (r"\bcan't\b", "cannot"),
    (r"\bwon't\b", "will not"),
    (r"n't\b", " not"),
    (r"'m\b", " am"),
    (r"'re\b", " are"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"\blet's\b", "let us"),
    (r"\b(it|he|she|that|what|where|there|who)'s\b", r"\1 is"),
]


def normalize(text: str) -> str:
    """Lower case, curly quotes straightened, common contractions expanded, punctuation
    dropped, whitespace collapsed: "It's   COLD!" -> "it is cold"."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    for pattern, repl in _CONTRACTIONS:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"[^\w\s:']|'(?!\w)|(?<!\w)'", " ", text)  # keep 7:45 and mother's
    return " ".join(text.split())


def _contains(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def _positive(out: dict) -> float:
    p = float(out["probability"])
    return p if out["label"] == "positive" else 1.0 - p


def _score_sentiment(case: dict, outs: list) -> bool:
    if case["type"] == "MFT":
        return outs[0]["label"] == case["expected"]
    if case["type"] == "INV":
        return all(o["label"] == outs[0]["label"] for o in outs[1:])
    base, changed = _positive(outs[0]), _positive(outs[1])
    if case["direction"] == "not_lower":
        return changed >= base - DIR_TOLERANCE
    return changed <= base + DIR_TOLERANCE


def _entities(out: dict) -> set[tuple[str, str]]:
    return {(e["text"], e["type"]) for e in out["entities"]}


def _score_ner(case: dict, outs: list) -> bool:
    if case["type"] == "MFT":
        return _entities(outs[0]) == {tuple(e) for e in case["expected"]}
    return all(o["tags"] == outs[0]["tags"] for o in outs[1:])


def _score_translation(case: dict, outs: list) -> bool:
    if case["type"] == "MFT":
        if "required" in case:
            return all(_contains(outs[0], w) for w in case["required"])
        return normalize(outs[0]) in {normalize(r) for r in case["expected"]}
    a, b = case["names"]
    if not (_contains(outs[0], a) and _contains(outs[1], b)):
        return False
    swapped = re.sub(rf"(?<!\w){re.escape(a)}(?!\w)", b, outs[0])
    return normalize(swapped) == normalize(outs[1])


SCORERS: dict[str, Callable[[dict, list], bool]] = {
    "sentiment": _score_sentiment,
    "ner": _score_ner,
    "translation": _score_translation,
}


def _shown(task: str, out: Any) -> Any:
    """A short readable form of one output for the failure list."""
    if task == "sentiment":
        return f"{out['label']} {_positive(out):.2f}"
    if task == "ner":
        return [f"{e['text']}/{e['type']}" for e in out["entities"]] or "(no entities)"
    return out


# -- running ------------------------------------------------------------------------------
def _inputs(case: dict) -> list[str]:
    return [case["input"]] if "input" in case else list(case["inputs"])


def _predict_all(model: Any, texts: Iterable[str], batch_size: int) -> dict[str, Any]:
    """Distinct texts -> outputs, `model.predict` called on lists of `batch_size`."""
    unique = list(dict.fromkeys(texts))
    outputs: dict[str, Any] = {}
    for i in range(0, len(unique), batch_size):
        chunk = unique[i : i + batch_size]
        outs = model.predict(chunk)
        if len(outs) != len(chunk):
            raise ValueError(f"predict returned {len(outs)} outputs for {len(chunk)} inputs.")
        outputs.update(zip(chunk, outs))
    return outputs


def _tally(task: str, cases: list[dict], outputs: dict[str, Any]) -> dict[str, dict]:
    """Score every case from the predicted `outputs`; per-category counts, pass rate (%)
    and the first `MAX_FAILURES` failing cases."""
    score = SCORERS[task]
    per: dict[str, dict] = {}
    for case in cases:
        entry = per.setdefault(
            case["category"],
            {"type": case["type"], "cases": 0, "passed": 0, "pass_rate": 0.0, "failures": []},
        )
        outs = [outputs[t] for t in _inputs(case)]
        entry["cases"] += 1
        if score(case, outs):
            entry["passed"] += 1
        elif len(entry["failures"]) < MAX_FAILURES:
            expected = case.get("expected", case.get("required", case.get("direction")))
            entry["failures"].append(
                {
                    "id": case["id"],
                    "inputs": _inputs(case),
                    "outputs": [_shown(task, o) for o in outs],
                    "expected": expected if expected is not None else "same answer",
                }
            )
    for entry in per.values():
        entry["pass_rate"] = round(100.0 * entry["passed"] / entry["cases"], 1)
    return per


def run_suite(
    model_or_name: Any,
    *,
    categories: Iterable[str] | None = None,
    task: str | None = None,
    cases: list[dict] | None = None,
    suite_dir: str | Path | None = None,
    batch_size: int = 64,
) -> dict:
    """Run a task's behavioural suite on a model and score it per category.

    Args:
        model_or_name: a preset name (loaded with `zoo.load`) or anything with a
            ``predict(list[str]) -> list`` method and a ``config["task"]`` (else pass `task`).
        categories: run only these categories (default: all of the suite's).
        task: "sentiment" | "ner" | "translation"; default the model's config task.
        cases: use these cases instead of the suite file (e.g. a fixed subset).
        suite_dir: where ``<task>.jsonl`` lives (default `SUITE_DIR`).
        batch_size: inputs per `predict` call.

    Returns:
        ``{"model", "task", "cases": int, "passed": int, "pass_rate": float (%),
        "categories": {name: {"type", "cases", "passed", "pass_rate" (%),
        "failures": [{"id", "inputs", "outputs", "expected"}] (at most MAX_FAILURES)}}}``;
        categories in suite order.
    """
    model = model_or_name
    if isinstance(model_or_name, str):
        from zoo.registry import load

        model = load(model_or_name)
    config = getattr(model, "config", None) or {}
    task = task or config.get("task")
    if task not in SCORERS:
        raise ValueError(
            f"Received a model of task {task!r}; behaviour suites exist for {list(TASKS)} "
            "(pass task=... for a model without a config)."
        )
    cases = load_suite(task, suite_dir) if cases is None else cases
    if categories is not None:
        wanted = list(categories)
        unknown = sorted(set(wanted) - {c["category"] for c in cases})
        if unknown:
            known = sorted({c["category"] for c in cases})
            raise ValueError(f"Unknown categories {unknown} for {task}; the suite has {known}.")
        cases = [c for c in cases if c["category"] in wanted]
    outputs = _predict_all(model, (t for c in cases for t in _inputs(c)), batch_size)
    per = _tally(task, cases, outputs)
    total = sum(e["cases"] for e in per.values())
    passed = sum(e["passed"] for e in per.values())
    return {
        "model": config.get("name", type(model).__name__),
        "task": task,
        "cases": total,
        "passed": passed,
        "pass_rate": round(100.0 * passed / max(1, total), 1),
        "categories": per,
    }


def format_report(result: dict, *, failures: int = 2) -> str:
    """A short table of `run_suite`'s result, then up to `failures` failing cases per
    category."""
    lines = [
        f"behaviour suite: {result['model']} ({result['task']}, {result['cases']} cases, "
        f"{result['pass_rate']:.1f} % passed)",
        f"  {'category':<20} {'type':<4} {'cases':>5} {'pass %':>7}",
    ]
    for name, e in result["categories"].items():
        lines.append(f"  {name:<20} {e['type']:<4} {e['cases']:>5} {e['pass_rate']:>7.1f}")
    shown = [(n, f) for n, e in result["categories"].items() for f in e["failures"][:failures]]
    if shown:
        lines.append("failing examples:")
    for name, f in shown:
        pairs = " | ".join(f"{i!r} -> {o}" for i, o in zip(f["inputs"], f["outputs"]))
        lines.append(f"  [{name}] {pairs}  (expected: {f['expected']})")
    return "\n".join(lines)


def format_markdown(results: list[dict]) -> str:
    """One Markdown table per task: presets x categories, pass rates in % (for
    docs/behaviour.md)."""
    blocks = []
    for task in TASKS:
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        cats = list(rows[0]["categories"])
        kinds = [rows[0]["categories"][c]["type"] for c in cats]
        counts = [str(rows[0]["categories"][c]["cases"]) for c in cats]
        head = ["preset", *(f"{c} ({k}, {n})" for c, k, n in zip(cats, kinds, counts)), "all"]
        lines = [f"### {task}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" + "---:|" * (len(head) - 1))
        for r in rows:
            rates = [f"{r['categories'][c]['pass_rate']:.1f}" for c in cats]
            lines.append(
                f"| {r['model']} | " + " | ".join([*rates, f"{r['pass_rate']:.1f}"]) + " |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def metadata_entry(result: dict) -> dict:
    """What a preset's metadata.json keeps under "behaviour": per-category pass rates (%)
    and counts, the suite version and the command that measured them."""
    return {
        "command": COMMAND,
        "suite": f"tests/behaviour/{result['task']}.jsonl",
        "suite_sha256": suite_sha256(result["task"]),
        "cases": result["cases"],
        "pass_rate": result["pass_rate"],
        "categories": {
            name: {"type": e["type"], "cases": e["cases"], "pass_rate": e["pass_rate"]}
            for name, e in result["categories"].items()
        },
    }


def write_metadata(result: dict) -> Path:
    """Set the "behaviour" key of the preset's metadata.json (formatting kept as
    `json.dumps(meta, indent=2)`; metadata.json is outside the preset's sha256 table)."""
    from zoo.registry import preset_dir

    directory = preset_dir(result["model"])
    if directory is None:
        raise ValueError(f"{result['model']!r} has no published preset to record results in.")
    path = Path(directory) / "metadata.json"
    meta = json.loads(path.read_text())
    meta["behaviour"] = metadata_entry(result)
    path.write_text(json.dumps(meta, indent=2))
    return path


def text_presets() -> list[str]:
    """Registered presets whose task has a behavioural suite (name order)."""
    from zoo.registry import list_models

    return sorted(n for task in TASKS for n in list_models(task=task, pretrained=True))


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.behaviour [NAME ...] [--all] [--write-metadata] [--json]``."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo.behaviour", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", help="preset names")
    parser.add_argument("--all", action="store_true", help="every text preset")
    parser.add_argument("--categories", nargs="+", help="run only these categories")
    parser.add_argument("--write-metadata", action="store_true", help="record in metadata.json")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    names = text_presets() if args.all else args.names
    if not names:
        parser.error("give preset names or --all")
    if args.write_metadata and args.categories:
        parser.error("--write-metadata records whole suites; drop --categories")
    results = []
    for name in names:
        result = run_suite(name, categories=args.categories)
        results.append(result)
        if args.write_metadata:
            write_metadata(result)
        if not (args.json or args.markdown):
            print(format_report(result), flush=True)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.markdown:
        print(format_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
