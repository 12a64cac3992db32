"""Name substitution: teach the translator to copy names it has never seen.

Names and places outside the vocabularies reach the model as [UNK], and the unknown-word
copy (`zoo.tasks.translation.copy`) writes the source word wherever the model writes
[UNK]. The model only learns to write [UNK] in a name's place if its training targets
have [UNK]s there; in the Tatoeba pairs nearly every name is "Tom" or "Mary" (in both
vocabularies), so it learns little about unknown names, and less still once numbers are
[UNK] too (``data.copy_numbers``: the [UNK]s it sees are then mostly numbers).

`substitute_names` replaces, in a fraction of the training pairs, a name that the
Spanish and the English share verbatim ("Tom", "Boston", "Hokkaido") by a made-up name
outside both vocabularies ("Kesulami"), on both sides. The model sees [UNK] -> [UNK] in
name positions, and "Tom" -> "Tom" less often. Pure data: nothing changes in the model,
its serving signature or its clients.

A shared word is a name when it is alphabetic, title-cased, at least 3 letters long and
written in lower case less than 1/20 as often as capitalised in the training text ("Tom"
yes; "No", "Me" and "Hola" no).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence

__all__ = ["make_name", "name_candidates", "substitute_names"]

_ONSETS = "b c d f g h j k l m n p r s t v y z br ch dr gr kr sh st tr".split()
_VOWELS = list("aeiou" * 5 + "áéíóú")  # an accent on one vowel in six
_CODAS = ["", "", "", "n", "l", "r", "s"]


def make_name(rng: random.Random, is_taken: Callable[[str], bool]) -> str:
    """A made-up, title-cased name of 2-3 syllables for which ``is_taken`` is False."""
    for _ in range(1000):
        syllables = [
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
            for _ in range(rng.randint(2, 3))
        ]
        name = "".join(syllables).capitalize()
        if not is_taken(name):
            return name
    raise RuntimeError("could not make a name outside the vocabularies in 1000 tries")


def _is_name(word: str, counts: Counter) -> bool:
    return (
        len(word) >= 3
        and word.isalpha()
        and word[0].isupper()
        and word[1:].islower()
        and counts[word.lower()] * 20 < counts[word]
    )


def name_candidates(
    source_tokens: Sequence[Sequence[str]], target_tokens: Sequence[Sequence[str]]
) -> list[list[str]]:
    """Per pair, the names (sorted) that the cased source and target tokens share."""
    counts = Counter(w for tokens in (*source_tokens, *target_tokens) for w in tokens)
    return [
        sorted(w for w in set(src) & set(tgt) if _is_name(w, counts))
        for src, tgt in zip(source_tokens, target_tokens)
    ]


def substitute_names(
    es: Sequence[str],
    en: Sequence[str],
    rate: float,
    *,
    seed: int,
    tokenize: Callable[[Sequence[str]], list[list[str]]],
    vocabularies: dict[str, list[str]],
) -> tuple[list[str], list[str], dict]:
    """Replace shared names by made-up ones in about ``rate`` of the pairs that have one.

    Args:
        es, en: the training pairs (raw strings).
        rate: the probability that a pair with a shared name is changed, in [0, 1].
        seed: the pairs and the names are drawn from ``random.Random(seed)``.
        tokenize: ``list[str] -> list[list[str]]``, cased tokens
            (`zoo.data.translation.standardize_target` split on blanks).
        vocabularies: ``{"source_vocabulary", "target_vocabulary"}``: made-up names are
            outside both (the source one compared lower-cased) and outside the text.

    Returns:
        ``(es, en, stats)``: new lists (the inputs are not modified) and
        ``{"rate", "pairs_with_names", "pairs_changed"}``.
    """
    if not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate <= 1):
        raise ValueError(
            "Received an invalid value for argument 'rate', expected a number in [0, 1], "
            f"got {rate!r}."
        )
    if len(es) != len(en):
        raise ValueError(
            f"Received {len(es)} Spanish and {len(en)} English sentences; expected pairs."
        )
    source_tokens, target_tokens = tokenize(list(es)), tokenize(list(en))
    candidates = name_candidates(source_tokens, target_tokens)
    source_vocab = set(vocabularies["source_vocabulary"])
    target_vocab = set(vocabularies["target_vocabulary"])
    text = {w for tokens in (*source_tokens, *target_tokens) for w in tokens}

    def is_taken(name: str) -> bool:
        return name.lower() in source_vocab or name in target_vocab or name in text

    rng = random.Random(seed)
    es, en = list(es), list(en)
    changed = 0
    for i, names in enumerate(candidates):
        if not names or rng.random() >= rate:
            continue
        for name in names:
            new = make_name(rng, is_taken)
            pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
            es[i], en[i] = pattern.sub(new, es[i]), pattern.sub(new, en[i])
        changed += 1
    stats = {
        "rate": float(rate),
        "pairs_with_names": sum(1 for names in candidates if names),
        "pairs_changed": changed,
    }
    return es, en, stats
