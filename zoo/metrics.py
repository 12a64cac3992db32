"""Thin adapters over well-kept metric libraries (seqeval, sacrebleu).

Nothing here re-implements a metric: entity F1 is seqeval's (conlleval-equivalent,
strict IOB2 via ``mode="strict"`` when asked), BLEU and chrF are sacrebleu's corpus
scores with its default tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence


def entity_f1(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *, strict: bool = False
) -> dict:
    """Entity-level precision/recall/F1 (in %) with seqeval, overall and per type.

    Args:
        y_true, y_pred: one list of IOB2 tags per sentence, aligned token by token.
        strict: use seqeval's strict IOB2 mode (default: conlleval-compatible).

    Returns:
        ``{"precision", "recall", "f1", "per_type": {"PER": {"precision", "recall",
        "f1", "support"}, ...}}``.
    """
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} sentences but y_pred has {len(y_pred)}.")
    for i, (t, p) in enumerate(zip(y_true, y_pred)):
        if len(t) != len(p):
            raise ValueError(f"Sentence {i}: {len(t)} true tags but {len(p)} predicted tags.")
    kwargs = {"mode": "strict", "scheme": IOB2} if strict else {}
    y_true, y_pred = [list(s) for s in y_true], [list(s) for s in y_pred]
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **kwargs)
    per_type = {
        k: {
            "precision": float(100 * v["precision"]),
            "recall": float(100 * v["recall"]),
            "f1": float(100 * v["f1-score"]),
            "support": int(v["support"]),
        }
        for k, v in report.items()
        if not k.endswith(" avg")
    }
    return {
        "precision": float(100 * precision_score(y_true, y_pred, zero_division=0, **kwargs)),
        "recall": float(100 * recall_score(y_true, y_pred, zero_division=0, **kwargs)),
        "f1": float(100 * f1_score(y_true, y_pred, zero_division=0, **kwargs)),
        "per_type": per_type,
    }


def bleu(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = False) -> float:
    """sacrebleu corpus BLEU (default 13a tokenizer) of detokenized strings, one reference each."""
    import sacrebleu

    return float(
        sacrebleu.corpus_bleu(list(hypotheses), [list(references)], lowercase=lowercase).score
    )


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus chrF."""
    import sacrebleu

    return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)


def bleu_n(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """BLEU-1..4 (sacrebleu, `max_ngram_order` 1..4) with possibly several references
    per hypothesis (`references[i]` is the list of references of hypothesis i)."""
    from sacrebleu.metrics import BLEU

    n_refs = max(len(r) for r in references)
    # sacrebleu wants one stream per reference position; pad short lists with None-free repeats.
    streams = [[r[min(k, len(r) - 1)] for r in references] for k in range(n_refs)]
    out = {}
    for n in range(1, 5):
        metric = BLEU(max_ngram_order=n, effective_order=True)
        out[f"bleu{n}"] = float(metric.corpus_score(list(hypotheses), streams).score)
    return out
