"""One naming scheme for countries in output columns.

Data files and the model use short codes (``CHN``, ``USA``, ``JPN``, ``EU``, ``AUS``, ``ROW``,
and ISO 3166 alpha-3 codes for mine hosts). Output columns use a lower-case English slug:
``price_light_china``, ``stockpile_usa``, ``mined_myanmar``, ``inventory_japan``. Every column
that names a country goes through :func:`slug`.
"""

from __future__ import annotations

__all__ = ["SLUGS", "slug"]

#: code -> column slug; codes not listed use their lower-case code
SLUGS: dict[str, str] = {
    "CHN": "china", "USA": "usa", "JPN": "japan", "EU": "eu", "AUS": "australia",
    "ROW": "row", "IND": "india", "RUS": "russia", "MMR": "myanmar", "VNM": "vietnam",
    "BRA": "brazil", "NGA": "nigeria", "THA": "thailand", "MDG": "madagascar",
    "MYS": "malaysia", "KOR": "korea", "CAN": "canada", "GBR": "uk", "DEU": "germany",
    "EST": "estonia", "LAO": "laos", "TZA": "tanzania", "ZAF": "south_africa",
    "GRL": "greenland", "KAZ": "kazakhstan",
}


def slug(code: str) -> str:
    """Column slug of a country code (``CHN`` -> ``china``; unknown codes in lower case)."""
    return SLUGS.get(code, code.lower())
