"""Write the behavioural test suites (CheckList-style) read by `zoo.behaviour`.

    .venv/bin/python tests/behaviour/generate.py      # rewrites tests/behaviour/*.jsonl

Deterministic (no randomness: templates are filled by index arithmetic), so the
committed JSON Lines files are exactly this script's output and a change to a template
shows up as a readable diff. Every sentence here and in ``everyday_es.yaml`` (the
hand-written Spanish with accepted English references) was written for this suite; names and
places marked "unseen" occur neither in the MR snippets, the CoNLL-2003 training file
nor the Tatoeba spa-eng pairs, and no sentence is copied from those sets (checked when
the lists were written; only templates filled with Tatoeba's most frequent name, Tom,
such as "Me llamo Tom.", coincide with a training pair).

One case per line: ``id``, ``category``, ``type`` (MFT / INV / DIR) and
- MFT: ``input`` and ``expected`` (sentiment: a label; NER: ``[[text, type], ...]``;
  translation: accepted references) or ``required`` (strings the output must contain);
- INV: ``inputs`` (two strings whose outputs must agree; translation also ``names``);
- DIR: ``inputs`` ([base, changed]) and ``direction`` ("not_lower" / "not_higher").
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

# -- shared vocabularies -------------------------------------------------------------
FIRST_COMMON = ["John", "Sarah", "David", "Anna", "Michael", "Laura", "Robert", "James"]
FIRST_UNSEEN = ["Dmitri", "Kofi", "Ngozi", "Haruto", "Aigerim", "Tendai", "Xiomara", "Siddharth"]
LAST_COMMON = ["Smith", "Johnson", "Miller", "Brown", "Davis", "Wilson", "Taylor", "Clark"]
LAST_UNSEEN = ["Petrov", "Mensah", "Okafor", "Nakamura", "Bekova", "Moyo", "Castillo", "Lindqvist"]
CITY_COMMON = ["London", "Paris", "Berlin", "Madrid", "Chicago", "Tokyo", "Rome", "Boston"]
CITY_UNSEEN = ["Valparaíso", "Tegucigalpa", "Ouagadougou", "Kaunas", "Cochabamba", "Tromsø"]
ORG_COMMON = ["Reuters", "Microsoft", "Toyota", "General Motors", "Deutsche Bank"]
ORG_UNSEEN = ["Siemens", "Zalando", "Spotify", "Tencent", "Infosys", "Barclays"]
TITLES = ["The Glass Orchard", "Casablanca", "Midnight in Kaunas", "Vertigo", "Paper Lanterns"]


def _pairs(items: list[str], step: int = 1) -> list[tuple[str, str]]:
    """Each item with the one `step` places further on (cyclic): distinct swap pairs."""
    return [(a, items[(i + step) % len(items)]) for i, a in enumerate(items)]


# -- sentiment -------------------------------------------------------------------------
THINGS = ["movie", "film", "acting", "story", "script", "soundtrack", "ending", "cast"]
POS_ADJ = ["wonderful", "excellent", "brilliant", "delightful", "superb", "beautiful", "great"]
NEG_ADJ = ["terrible", "awful", "boring", "dull", "dreadful", "tedious", "horrible"]
INTENS = ["very", "really", "extremely", "absolutely", "incredibly", "truly"]
POS_HAND = [
    "I loved every minute of it.",
    "A beautiful, moving film.",
    "Among the finest films I saw this year.",
    "What a delight from start to finish.",
    "The cast is terrific and the story is gripping.",
    "I would happily watch it again.",
    "A smart, funny and warm comedy.",
    "The acting was superb and the story moving.",
    "It made me laugh and cry, a real gem.",
    "Easily the most enjoyable film I have seen in ages.",
    "A triumph of clever writing.",
    "Charming, witty and full of heart.",
]
NEG_HAND = [
    "I hated nearly every scene.",
    "A dull, lifeless mess.",
    "Easily the weakest film I saw this year.",
    "Two hours of my life, wasted.",
    "The plot makes no sense and the jokes fall flat.",
    "I walked out after half an hour.",
    "Boring, clumsy and far too long.",
    "The actors seem bored and so was I.",
    "Nothing works in this lazy sequel.",
    "An ugly, pointless film.",
    "I want my two hours back.",
    "Painfully slow and utterly forgettable.",
]
NEGATION = [
    # (template over THINGS, label)
    ("The {t} was not bad at all.", "positive"),
    ("The {t} was not boring at all.", "positive"),
    ("The {t} was never dull.", "positive"),
    ("I can't say the {t} was bad.", "positive"),
    ("The {t} was not good.", "negative"),
    ("The {t} was not great.", "negative"),
    ("I did not enjoy the {t}.", "negative"),
    ("I didn't like the {t} at all.", "negative"),
]
NEGATION_HAND = [
    ("Not bad at all.", "positive"),
    ("Not bad, not bad at all.", "positive"),
    ("It is not a bad film.", "positive"),
    ("Not good.", "negative"),
    ("Not worth watching.", "negative"),
    ("Not funny, not clever, not worth it.", "negative"),
]
NAME_TEMPLATES = [
    ("{n}'s performance was wonderful.", "positive"),
    ("{n} was dreadful in the lead role.", "negative"),
    ("I watched it with {n} and we both loved it.", "positive"),
    ("Even {n} could not save this boring script.", "negative"),
    ("{n} gives the best performance of the year.", "positive"),
]
CITY_TEMPLATES = [
    ("I saw it in {n} and it was a delight.", "positive"),
    ("The scenes set in {n} are dull and lifeless.", "negative"),
]
TITLE_TEMPLATES = [
    ("{n} is a wonderful film.", "positive"),
    ("{n} is a dull, tedious mess.", "negative"),
]
NEUTRAL_BASES = [
    "I watched the movie on Sunday.",
    "The film is about two brothers.",
    "It runs for about two hours.",
    "The story takes place in a small town.",
    "I saw it with my sister.",
    "The movie is based on a novel.",
    "Most of it was shot at night.",
    "The cast includes several new faces.",
]
POS_CLAUSES = [" I loved it.", " The ending is wonderful.", " It is a real delight."]
NEG_CLAUSES = [" I hated it.", " The ending is terrible.", " It is a complete waste of time."]


def sentiment_cases() -> list[dict]:
    cases: list[dict] = []

    def add(category: str, kind: str, **fields) -> None:
        cases.append({"category": category, "type": kind, **fields})

    for i, t in enumerate(THINGS):
        for j in range(3):
            add(
                "positive", "MFT", input=f"The {t} was {POS_ADJ[(i + j) % 7]}.", expected="positive"
            )
    for s in POS_HAND:
        add("positive", "MFT", input=s, expected="positive")
    for i, t in enumerate(THINGS):
        for j in range(3):
            add(
                "negative", "MFT", input=f"The {t} was {NEG_ADJ[(i + j) % 7]}.", expected="negative"
            )
    for s in NEG_HAND:
        add("negative", "MFT", input=s, expected="negative")
    for template, label in NEGATION:
        for t in THINGS[:6]:
            add("negation", "MFT", input=template.format(t=t), expected=label)
    for s, label in NEGATION_HAND:
        add("negation", "MFT", input=s, expected=label)
    for i, t in enumerate(THINGS):
        for j, adj in enumerate((POS_ADJ[i % 7], NEG_ADJ[i % 7])):
            word = INTENS[(i + j) % len(INTENS)]
            label = "positive" if j == 0 else "negative"
            add("intensifiers", "MFT", input=f"The {t} was {word} {adj}.", expected=label)
            add("intensifiers", "MFT", input=f"The {t} was so {adj}!", expected=label)
    people = [f"{a} {b}" for a, b in zip(FIRST_COMMON + FIRST_UNSEEN, LAST_COMMON + LAST_UNSEEN)]
    for k, (a, b) in enumerate(_pairs(people, step=8)):
        template, _ = NAME_TEMPLATES[k % len(NAME_TEMPLATES)]
        add("swap_name", "INV", inputs=[template.format(n=a), template.format(n=b)])
    for k, (a, b) in enumerate(_pairs(CITY_COMMON[:6] + CITY_UNSEEN, step=6)):
        template, _ = CITY_TEMPLATES[k % 2]
        add("swap_name", "INV", inputs=[template.format(n=a), template.format(n=b)])
    for a, b in _pairs(TITLES):
        for template, _ in TITLE_TEMPLATES:
            add("swap_name", "INV", inputs=[template.format(n=a), template.format(n=b)])
    bases = (
        POS_HAND[:10]
        + NEG_HAND[:10]
        + [f"The {t} was {POS_ADJ[i % 7]}." for i, t in enumerate(THINGS)]
    )
    for s in bases:
        stem = s.rstrip(".!")
        for variant in (stem, stem + "!", s.lower(), s.upper()):
            add("punctuation_casing", "INV", inputs=[s, variant])
    for i, base in enumerate(NEUTRAL_BASES + POS_HAND[:4] + NEG_HAND[:4]):
        for clause in (POS_CLAUSES[i % 3], POS_CLAUSES[(i + 1) % 3]):
            add("add_positive", "DIR", inputs=[base, base + clause], direction="not_lower")
        for clause in (NEG_CLAUSES[i % 3], NEG_CLAUSES[(i + 1) % 3]):
            add("add_negative", "DIR", inputs=[base, base + clause], direction="not_higher")
    return cases


# -- NER -------------------------------------------------------------------------------
PER_TEMPLATES = [
    "{e} said the plan would work.",
    "Yesterday {e} arrived by train.",
    "The award went to {e}.",
    "{e} is the new coach of the team.",
    "We had dinner with {e} last week.",
    "According to {e}, prices will rise.",
    "{e} won the race on Sunday.",
    "I spoke to {e} this morning.",
    "The letter was signed by {e}.",
    "{e} plans to retire next year.",
]
LOC_TEMPLATES = [
    "She moved to {e} in 2019.",
    "The flight to {e} was delayed.",
    "It rained all week in {e}.",
    "He was born in {e}.",
    "The conference will be held in {e}.",
    "Prices in {e} went up again.",
    "We drove from the airport to {e}.",
    "Thousands of people live in {e}.",
]
ORG_TEMPLATES = [
    "{e} reported higher profits.",
    "She works for {e}.",
    "Shares of {e} fell on Monday.",
    "{e} hired 200 new engineers.",
    "The deal with {e} was signed today.",
    "He left {e} last year.",
    "A spokesman for {e} declined to comment.",
]
SWAP_PER_TEMPLATES = [
    "{p} flew to {c} on Monday.",
    "In {c}, {p} opened a new bakery.",
    "{p} told reporters in {c} that the talks had failed.",
    "The mayor of {c} met {p} yesterday.",
]


def ner_cases() -> list[dict]:
    cases: list[dict] = []
    people = [
        f"{a} {b}" for a, b in zip(FIRST_COMMON + FIRST_UNSEEN, LAST_COMMON + LAST_UNSEEN)
    ] + FIRST_UNSEEN[:4]
    cities = CITY_COMMON + CITY_UNSEEN
    orgs = ORG_COMMON + ORG_UNSEEN
    mft = []
    for k, p in enumerate(people):
        for j in range(3):
            template = PER_TEMPLATES[(k + 3 * j) % len(PER_TEMPLATES)]
            mft.append(("person", template.format(e=p), [[p, "PER"]]))
    for k, c in enumerate(cities):
        for j in range(3):
            template = LOC_TEMPLATES[(k + 3 * j) % len(LOC_TEMPLATES)]
            mft.append(("location", template.format(e=c), [[c, "LOC"]]))
    for k, o in enumerate(orgs):
        for j in range(3):
            template = ORG_TEMPLATES[(k + 2 * j) % len(ORG_TEMPLATES)]
            mft.append(("organization", template.format(e=o), [[o, "ORG"]]))
    for category, text, expected in mft:
        cases.append({"category": category, "type": "MFT", "input": text, "expected": expected})
    # Swaps keep the token count, so "only that span changes" means identical tags.
    full = people[:16]
    for k, (a, b) in enumerate(
        _pairs(full, step=8) + _pairs(FIRST_UNSEEN[:4] + FIRST_COMMON[:4], 4)
    ):
        t = SWAP_PER_TEMPLATES[k % len(SWAP_PER_TEMPLATES)]
        c = cities[k % len(cities)]
        cases.append(
            {
                "category": "swap_person",
                "type": "INV",
                "inputs": [t.format(p=a, c=c), t.format(p=b, c=c)],
            }
        )
    for k, (a, b) in enumerate(_pairs(cities, step=7) + _pairs(cities, step=3)):
        t = SWAP_PER_TEMPLATES[k % len(SWAP_PER_TEMPLATES)]
        p = full[k % len(full)]
        cases.append(
            {
                "category": "swap_city",
                "type": "INV",
                "inputs": [t.format(p=p, c=a), t.format(p=p, c=b)],
            }
        )
    for _, text, _ in mft[::2]:
        cases.append({"category": "casing", "type": "INV", "inputs": [text, text.lower()]})
    return cases


# -- translation (Spanish -> English) ----------------------------------------------------
# Hand-written everyday sentences: (Spanish, [accepted English references]); pass = a
# normalised match with one of them (`zoo.behaviour.normalize`).
EVERYDAY_FILE = HERE / "everyday_es.yaml"
# Template sentences: (subject es, subject en), (verb es, verb en), (object es, object en).
SUBJECTS = [
    ("Mi tío", "My uncle"),
    ("La niña", "The girl"),
    ("Mi abuelo", "My grandfather"),
    ("El médico", "The doctor"),
    ("Mi prima", "My cousin"),
]
ACTIONS = [
    ("compra", "buys", "is buying"),
    ("come", "eats", "is eating"),
    ("quiere", "wants", "wants"),
    ("necesita", "needs", "needs"),
]
FOOD = [("una manzana", "an apple"), ("pan", "bread"), ("una naranja", "an orange")]
THINGS_ES = [
    ("un libro", "a book"),
    ("una bicicleta", "a bicycle"),
    ("agua", "water"),
    ("un sombrero", "a hat"),
    ("una mesa", "a table"),
]
SEEN_NAMES = ["Tom", "Mary", "John", "Alice"]
UNSEEN_NAMES = ["Dmitri", "Kofi", "Ngozi", "Haruto", "Xiomara", "Tendai", "Aigerim", "Siddharth"]
SEEN_PLACES = ["Boston", "Chicago", "Australia", "Madrid"]
UNSEEN_PLACES = ["Valparaíso", "Nairobi", "Tegucigalpa", "Kaunas", "Cochabamba", "Ouagadougou"]
NAME_TEMPLATES_ES = [
    "Me llamo {n}.",
    "{n} vive en {p}.",
    "{n} trabaja en {p}.",
    "¿Conoces bien a {n}?",
    "{n} tiene un perro grande.",
    "Ayer vi a {n} en el mercado.",
    "{n} llegó a {p} el lunes.",
    "Voy a visitar a {n} mañana.",
]
NUMBER_TEMPLATES_ES = [
    ("Tengo {x} años.", ["27", "34", "61", "10"]),
    ("Nací en {x}.", ["1987", "1962", "2003"]),
    ("El tren sale a las {x}.", ["7:45", "18:20"]),
    ("Compré {x} libros.", ["3", "12", "348"]),
    ("Vivo en el piso {x}.", ["14", "5", "23"]),
    ("La entrada cuesta {x} euros.", ["15", "100", "2750"]),
    ("Hay {x} alumnos en mi clase.", ["31", "12", "19"]),
]


def translation_cases() -> list[dict]:
    cases: list[dict] = []
    for pair in yaml.safe_load(EVERYDAY_FILE.read_text(encoding="utf-8"))["everyday"]:
        cases.append(
            {"category": "everyday", "type": "MFT", "input": pair["es"], "expected": pair["en"]}
        )
    k = 0
    for s_es, s_en in SUBJECTS:
        for v_es, v_en, v_prog in ACTIONS:
            objects = FOOD if v_es == "come" else FOOD + THINGS_ES
            for o_es, o_en in (objects[k % len(objects)], objects[(k + 1) % len(objects)]):
                refs = sorted({f"{s_en} {v_en} {o_en}.", f"{s_en} {v_prog} {o_en}."})
                case = {"input": f"{s_es} {v_es} {o_es}.", "expected": refs}
                cases.append({"category": "everyday", "type": "MFT", **case})
            k += 1
    for category, names, places in (
        ("keep_names_seen", SEEN_NAMES, SEEN_PLACES),
        ("keep_names_unseen", UNSEEN_NAMES, UNSEEN_PLACES),
    ):
        for i, n in enumerate(names * (2 if len(names) < 8 else 1)):
            for j in range(6):
                t = NAME_TEMPLATES_ES[(i + 3 * j) % len(NAME_TEMPLATES_ES)]
                p = places[(i + j) % len(places)]
                required = [n] + ([p] if "{p}" in t else [])
                cases.append(
                    {
                        "category": category,
                        "type": "MFT",
                        "input": t.format(n=n, p=p),
                        "required": required,
                    }
                )
    for t, numbers in NUMBER_TEMPLATES_ES:
        for x in numbers:
            cases.append(
                {"category": "keep_numbers", "type": "MFT", "input": t.format(x=x), "required": [x]}
            )
    for i, (a, b) in enumerate(_pairs(SEEN_NAMES) + _pairs(SEEN_NAMES, step=2)):
        for j in range(4):
            t = NAME_TEMPLATES_ES[(i + 2 * j) % len(NAME_TEMPLATES_ES)]
            p = SEEN_PLACES[(i + j) % len(SEEN_PLACES)]
            cases.append(
                {
                    "category": "swap_name",
                    "type": "INV",
                    "inputs": [t.format(n=a, p=p), t.format(n=b, p=p)],
                    "names": [a, b],
                }
            )
    return cases


def _dedupe(cases: list[dict]) -> list[dict]:
    seen, out = set(), []
    for c in cases:
        key = json.dumps([c["category"], c.get("input"), c.get("inputs")], ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


BUILDERS = {"sentiment": sentiment_cases, "ner": ner_cases, "translation": translation_cases}


def render(task: str) -> str:
    """The text of ``<task>.jsonl``: the cases numbered per category, one JSON object a
    line."""
    counts: dict[str, int] = {}
    lines = []
    for c in _dedupe(BUILDERS[task]()):
        counts[c["category"]] = counts.get(c["category"], 0) + 1
        record = {"id": f"{task}-{c['category']}-{counts[c['category']]:03d}", **c}
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def main() -> None:
    for task in BUILDERS:
        path = HERE / f"{task}.jsonl"
        text = render(task)
        path.write_text(text, encoding="utf-8")
        print(f"{path.relative_to(HERE.parent.parent)}: {text.count(chr(10))} cases")


if __name__ == "__main__":
    main()
