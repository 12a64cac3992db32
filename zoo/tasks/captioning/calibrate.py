"""Fit, measure and store a captioning preset's confidence calibration.

``python -m zoo calibrate NAME_OR_PRESET_DIR [--write]`` runs `calibrate`: it fits the
calibration (`zoo.tasks.captioning.confidence`) on the preset's validation split (the
out-of-distribution statistics on its train split), measures it with `measure`, and with
``--write`` stores it as ``assets/calibration.json`` in the preset and the measurements
under ``calibration`` in its ``metadata.json``.

`measure` reports, on the test split, per artwork set (``noto``, ``emojione``; a set the
model was not trained on is marked ``in_style: false``): BLEU-4 and exact match of the
beam captions, the share of right captions, the expected calibration error (ECE, 10
bins) and the AUROC of confidence for right vs wrong captions, and how often the answer
is "no confident caption"; and for random noise and drawings (`zoo.tasks.captioning.
probes`) how often that answer fires and the AUROC of the ``ood`` score and of
``1 - confidence`` against the in-style test images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import captioning as cdata
from zoo.tasks.captioning import confidence as conf
from zoo.tasks.captioning import probes

CALIBRATION_FILE = "assets/calibration.json"
VERSION = 1


def _scored(runtime, arrays: dict, calibration: dict | None = None) -> dict[str, Any]:
    """Beam captions, features, rightness (and confidence, given a calibration)."""
    out = runtime.scored_arrays(arrays["images"])
    names = conf.names_of(arrays.get("emoji", []), arrays.get("captions", []))
    out["right"] = conf.is_right(out["captions"], names) if names else None
    if calibration is not None:
        out["ood"] = conf.ood_score(calibration["ood"], out["pooled"])
        out["confidence"] = conf.confidence_of(calibration, out)
    return out


def fit(runtime, data_cfg: dict) -> dict:
    """The calibration of a `CaptioningRuntime` (JSON-ready): ``version``, ``right``
    (the definition), ``ood`` (`confidence.fit_ood` on the train split), ``platt``
    (`confidence.fit_platt` on the validation split), ``ood_limit`` (the largest
    validation ``ood``), ``no_caption_below``."""
    from zoo.tasks.captioning.task import split_arrays

    train = split_arrays(data_cfg, "train")
    stats = conf.fit_ood(conf.pooled_features(runtime.model, train["images"]))
    val = _scored(runtime, split_arrays(data_cfg, "validation"))
    val["ood"] = conf.ood_score(stats, val["pooled"])
    platt = conf.fit_platt(val, val["right"])
    confidence = conf.apply_platt(platt, val)
    return {
        "version": VERSION,
        "right": {
            "definition": "token F1 with the CLDR name or an alias >= threshold",
            "threshold": conf.RIGHT_F1,
        },
        "beam_size": runtime.beam_size,
        "ood": stats,
        "platt": platt,
        "ood_limit": float(val["ood"].max()),
        "no_caption_below": conf.keep_threshold(confidence, val["right"]),
        "keep_right": conf.KEEP_RIGHT,
        "validation_images": len(val["captions"]),
    }


def _group_report(scored: dict, sel: np.ndarray, references: list[str], threshold: float):
    from zoo.tasks.captioning.task import caption_metrics

    captions = [c for c, s in zip(scored["captions"], sel) if s]
    right, confidence = scored["right"][sel], scored["confidence"][sel]
    answered = confidence >= threshold
    metrics = caption_metrics(captions, [r for r, s in zip(references, sel) if s])
    return {
        "images": int(sel.sum()),
        "bleu4": round(metrics["bleu4"], 2),
        "exact_match": round(metrics["exact_match"], 2),
        "right": round(float(right.mean()), 4),
        "mean_confidence": round(float(confidence.mean()), 4),
        "ece": round(conf.expected_calibration_error(confidence, right), 4),
        "auroc_right": _round(conf.auroc(confidence, right)),
        "no_caption_rate": round(float(1.0 - answered.mean()), 4),
        "right_when_answered": _round(float(right[answered].mean()) if answered.any() else None),
    }


def _round(x, digits: int = 4):
    return None if x is None else round(float(x), digits)


def measure(runtime, calibration: dict, data_cfg: dict, *, probe_images: int = 64) -> dict:
    """The report described in the module docstring (a JSON-ready dict)."""
    from zoo.tasks.captioning.task import split_arrays

    trained_on = cdata.check_sources(data_cfg.get("sources")) or cdata.SOURCES
    test = split_arrays({**data_cfg, "sources": None}, "test")
    scored = _scored(runtime, test, calibration)
    threshold = calibration["no_caption_below"]
    source = np.asarray(test["source"])
    report: dict[str, Any] = {"no_caption_below": threshold, "test": {}}
    for name in cdata.SOURCES:
        sel = source == name
        if sel.any():
            report["test"][name] = {
                "in_style": name in trained_on,
                **_group_report(scored, sel, test["captions"], threshold),
            }
    in_style = np.isin(source, trained_on)
    report["test"]["in_style"] = _group_report(scored, in_style, test["captions"], threshold)
    for name, group in report["test"].items():
        if name in cdata.SOURCES and not group["in_style"]:  # can the style shift be seen?
            sel = source == name
            labels = np.r_[np.zeros(in_style.sum()), np.ones(sel.sum())]
            group["auroc_ood_score"] = _round(
                conf.auroc(np.r_[scored["ood"][in_style], scored["ood"][sel]], labels)
            )
    size = runtime.image_size
    drawn, _ = probes.drawn_images(max(1, probe_images // len(probes.SHAPES)), size)
    for name, images in (("noise", probes.noise_images(probe_images, size)), ("drawn", drawn)):
        probe = _scored(runtime, {"images": images}, calibration)
        labels = np.r_[np.zeros(in_style.sum()), np.ones(len(images))]
        report[name] = {
            "images": len(images),
            "no_caption_rate": round(float((probe["confidence"] < threshold).mean()), 4),
            "max_confidence": round(float(probe["confidence"].max()), 4),
            "auroc_ood_score": _round(
                conf.auroc(np.r_[scored["ood"][in_style], probe["ood"]], labels)
            ),
            "auroc_low_confidence": _round(
                conf.auroc(-np.r_[scored["confidence"][in_style], probe["confidence"]], labels)
            ),
        }
    return report


def calibrate(name_or_dir: str | os.PathLike, *, write: bool = False) -> dict:
    """Fit and measure the calibration of a captioning preset; with `write`, store it.

    Returns:
        ``{"name", "calibration": dict, "report": dict, "written": path or None}``.
    """
    import zoo
    from zoo import registry

    model = zoo.load(name_or_dir)
    if model.task.name != "captioning":
        raise ValueError(
            f"Received an invalid model for calibration: {model.name!r} is a "
            f"{model.task.name} model; confidence calibration is for captioning presets."
        )
    runtime = model.task.runtime(model.model, model.assets, model.config)
    calibration = fit(runtime, model.config["data"])
    report = measure(runtime, calibration, model.config["data"])
    written = None
    if write:
        text = json.dumps(calibration, separators=(",", ":")) + "\n"
        written = registry.add_preset_file(
            model.path, CALIBRATION_FILE, text.encode("utf-8"), metadata={"calibration": report}
        )
    return {"name": model.name, "calibration": calibration, "report": report, "written": written}


def format_report(result: dict) -> str:
    """`calibrate`'s result as a few readable lines."""
    report = result["report"]
    lines = [
        f"{result['name']}: no confident caption below {report['no_caption_below']:.3f} "
        f"(keeps {conf.KEEP_RIGHT:.0%} of right validation captions; right = token F1 >= "
        f"{conf.RIGHT_F1} with the name or an alias)",
    ]
    for name, g in report["test"].items():
        style = "" if name == "in_style" else (" in-style" if g["in_style"] else " OUT-OF-STYLE")
        lines.append(
            f"  test {name:9s}{style:13s} n={g['images']:4d} BLEU-4 {g['bleu4']:5.2f} "
            f"right {g['right']:.1%} (mean confidence {g['mean_confidence']:.1%}) ECE "
            f"{g['ece']:.3f} AUROC {g['auroc_right'] or 0:.3f} no-caption "
            f"{g['no_caption_rate']:.1%} right-when-answered {g['right_when_answered'] or 0:.1%}"
            + (f" OOD AUROC {g['auroc_ood_score']:.3f}" if g.get("auroc_ood_score") else "")
        )
    for name in ("noise", "drawn"):
        p = report[name]
        lines.append(
            f"  {name:5s} n={p['images']:3d} no-caption {p['no_caption_rate']:.1%} max confidence "
            f"{p['max_confidence']:.3f} OOD AUROC {p['auroc_ood_score'] or 0:.3f} "
            f"(1 - confidence: {p['auroc_low_confidence'] or 0:.3f})"
        )
    if result.get("written"):
        lines.append(f"  wrote {Path(result['written'])}")
    return "\n".join(lines)
