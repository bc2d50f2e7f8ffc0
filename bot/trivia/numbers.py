"""Number words and dates read as tokens: "twenty-nine" -> 29, "29th" -> 29, any common date form -> one token.

A date becomes ``dYYYYMMDD`` whether written "29/08/1997", "1997-08-29", "Aug 29, 1997" or "29th of August 97";
two-digit years below 30 are read as 20xx, the rest as 19xx.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["month_dates", "number_words", "numeric_dates"]

_UNITS = {
    "zero": 0,
    "oh": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
_NUMERIC_DATE = re.compile(r"(?<![\w/.-])(\d{1,4})([/.-])(\d{1,2})\2(\d{2,4})(?![\w/-]|\.\d)")
_ORDINAL_DIGITS = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def numeric_dates(text: str) -> str:
    """Dates written with digits ("29/08/1997", "1997-08-29", "8.29.97") become one date token."""

    def date(match: re.Match[str]) -> str:
        first, _, second, third = match.groups()
        a, b, c = int(first), int(second), int(third)
        if len(first) == 4:
            year, month, day = a, b, c
        else:
            year = c if len(third) == 4 else (2000 + c if c < 30 else 1900 + c)
            month, day = (a, b) if a <= 12 else (b, a)
        token = _date_token(year, month, day)
        return f" {token} " if token else match.group(0)

    return _NUMERIC_DATE.sub(date, text)


def _date_token(year: int, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31 and 0 < year < 10000):
        return None
    return f"d{year:04d}{month:02d}{day:02d}"


def _parse_number(words: Sequence[str]) -> int | None:
    """The value of number words such as ["two", "hundred", "and", "one"]; year style ["nineteen", "95"] too."""
    total = current = 0
    groups: list[int] = []
    seen_scale = False
    for word in words:
        if word == "and":
            continue
        if word in _UNITS or word in _ORDINALS:
            value = _UNITS.get(word, _ORDINALS.get(word, 0))
            if current % 100 and (current % 10 or value >= 10):
                groups.append(current)
                current = 0
            current += value
        elif word in _TENS:
            if current % 100:
                groups.append(current)
                current = 0
            current += _TENS[word]
        elif word in _SCALES:
            seen_scale = True
            scale = _SCALES[word]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0
        else:
            return None
    if groups:
        if seen_scale or total:
            return None
        groups.append(current)
        if any(group >= 100 for group in groups):
            return None
        return int("".join(f"{g:02d}" if i else str(g) for i, g in enumerate(groups)))
    return total + current


def number_words(tokens: list[str]) -> list[str]:
    """Runs of number words become digits; "29th" becomes "29"."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        digits = _ORDINAL_DIGITS.match(word)
        if digits:
            out.append(str(int(digits.group(1))))
            i += 1
            continue
        if word in _UNITS or word in _TENS or word in _ORDINALS or (word in _SCALES and out and out[-1].isdigit()):
            j = i
            run: list[str] = []
            while j < len(tokens):
                nxt = tokens[j]
                numeric = nxt in _UNITS or nxt in _TENS or nxt in _ORDINALS or nxt in _SCALES
                joining = nxt == "and" and run and run[-1] in _SCALES and j + 1 < len(tokens)
                if not (numeric or joining):
                    break
                run.append(nxt)
                j += 1
            if run[0] in _SCALES:
                prefix = int(out.pop())
                value = _parse_number(run)
                if value is not None:
                    out.append(str(prefix * _SCALES[run[0]] + value - _SCALES[run[0]]))
                    i = j
                    continue
                out.append(str(prefix))
            value = _parse_number(run)
            if value is not None and not (len(run) == 1 and word == "oh"):
                out.append(str(value))
                i = j
                continue
        out.append(word)
        i += 1
    return out


def month_dates(tokens: list[str], separators: list[int]) -> tuple[list[str], list[int]]:
    """["aug", "29", "1997"] / ["29", "of", "august", "1997"] become one date token; separators inside it go."""
    out: list[str] = []
    index_map: dict[int, int | None] = {}
    i = 0
    while i < len(tokens):
        index_map[i] = len(out)
        found = None
        word = tokens[i]
        if word in _MONTHS and i + 2 < len(tokens) and tokens[i + 1].isdigit() and tokens[i + 2].isdigit():
            found = (_MONTHS[word], int(tokens[i + 1]), tokens[i + 2], 3)
        elif word.isdigit() and i + 2 < len(tokens):
            step = 1 if tokens[i + 1] != "of" else 2
            if i + step + 1 < len(tokens) and tokens[i + step] in _MONTHS and tokens[i + step + 1].isdigit():
                found = (_MONTHS[tokens[i + step]], int(word), tokens[i + step + 1], step + 2)
        if found is not None:
            month, day, year_text, length = found
            year = int(year_text)
            if len(year_text) == 2:
                year = 2000 + year if year < 30 else 1900 + year
            token = _date_token(year, month, day) if len(year_text) in (2, 4) else None
            if token is not None:
                out.append(token)
                for k in range(i + 1, i + length):
                    index_map[k] = None
                i += length
                continue
        out.append(word)
        i += 1
    index_map[len(tokens)] = len(out)
    kept = [mapped for position in separators if (mapped := index_map.get(position)) is not None]
    return out, kept
