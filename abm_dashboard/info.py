"""The Info panel (in the spirit of NetLogo's Info tab) and the plain-language glossary.

Text only: what the model is, how it works, how to use the page, things to notice and things to
try (each tied to a lever of the page), and where the numbers come from. Scenario-specific
parts (the story, what to look for, questions) come from the scenario file's ``[narrative]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["GLOSSARY", "THINGS_TO_TRY", "info_markdown"]

#: Terms the page uses, in plain language (shown in the Info panel and as help under controls).
GLOSSARY: dict[str, str] = {
    "Rare earths": "17 metals used in magnets for electric motors, wind turbines and "
                   "electronics. The model follows the two that matter most for magnets.",
    "NdPr (light)": "Neodymium-praseodymium oxide, the main ingredient of strong magnets; "
                    "mined mostly in China, Australia and the USA.",
    "Dy/Tb (heavy)": "Dysprosium and terbium oxide, small amounts that keep magnets strong "
                     "when hot; mined mostly in south China and Myanmar.",
    "t REO": "Tonnes of rare-earth oxide, all elements together: how mine output is counted.",
    "Separation (refining)": "Turning mined concentrate into pure oxides. China does about 90% "
                             "of it, so ore mined elsewhere often goes to China first.",
    "Export quota": "A cap on the tonnes a country lets leave each year.",
    "Licence": "Exports need a permit: requests wait (two months in the model), then a share "
               "of them is approved.",
    "Ban (embargo)": "Nothing may be exported to that country.",
    "Two-tier price": "When exports are capped, buyers outside China pay more than buyers "
                      "inside it for the same oxide.",
    "Stockpile": "A reserve a state buys and holds for emergencies.",
    "Bloc / alliance": "States that help each other: they share stockpiles, prefer each "
                       "other's supply and fund new mines and plants together.",
    "Trade group": "Countries that trade mostly with each other this month, found from the "
                   "trade flows alone (Louvain communities), whatever alliances they declared; "
                   "named after the member that trades most.",
    "HHI (concentration)": "How concentrated supply is by country: the sum of squared "
                           "shares, 1 = one country supplies everything, 0.5 = like two equal "
                           "suppliers.",
    "Price floor": "A state guarantees a miner a minimum price and pays the gap.",
    "Elasticity": "How much less firms buy when the price rises: 0.2 means 2% less for a "
                  "10% rise.",
    "Logit intensity": "How strategic states are: 0 = they pick at random; 3 = the best "
                       "option is about 20 times as likely as the worst; 100 = always the "
                       "best one.",
    "Payoff / score": "What a strategy is worth to a state each month, in US$ million: its "
                      "refiners' sales, its industry's cost advantage, leverage over others, "
                      "minus shortages, stockpile costs and the risk of retaliation.",
}

#: Things to try, each tied to a lever of the page: (what to do, what to look for).
THINGS_TO_TRY: tuple[tuple[str, str], ...] = (
    ("In 2010: China's quota cut (pick '2010: ...'), press Play and watch the price chart.",
     "Why does the price outside China rise so much more than China's own (markers 2-3)?"),
    ("Set 'China's exports - live: To Japan: heavy' to ban, then step a few months.",
     "Japan's dependence on China drops to zero - where does Japan buy instead, and at what "
     "price? (Trade this month, Dependence on China)"),
    ("Raise the demand elasticity from 0.2 to 1.0 and press Reset.",
     "Firms that can do without rare earths soften the price spike: compare the peaks."),
    ("Tick Compare, choose 'US-Japan alliance' and set run B to off (2025 scenario).",
     "Does the framework lower Japan's and the USA's dependence on China? (faded lines = B)"),
    ("In the strategic scenario, set how strategic states are to 0, then to 30.",
     "Do restrictions come in waves? Does China restrict more when it chooses well?"),
    ("Raise the stockpile target to 12 months (strategic scenario) and compare.",
     "Do bigger reserves make importers safer, or just make the price higher?"),
)


def info_markdown(title: str, description: str, narrative: Mapping[str, object],
                  levers: Sequence[str], sources: Sequence[str]) -> str:
    """The Info panel as Markdown.

    Args:
        title: the scenario's title.
        description: what the scenario is.
        narrative: the scenario's ``history``, ``look_for`` and ``questions``.
        levers: descriptions of the levers the scenario offers (with when they act).
        sources: the sources of the observed data and the calibration.

    Returns:
        Markdown text with the sections of NetLogo's Info tab.
    """
    parts = [
        "## What is it?",
        "A model of the world market for rare earths as a game between states. China mines "
        "about 70% and separates about 90% of the world's rare earths; the USA, Japan, the EU "
        "and Australia depend on it. Each month miners dig, refiners separate, firms buy what "
        "they need for magnets, and states decide whether to restrict exports, build "
        "stockpiles and form alliances. Prices come out of the market, month by month.",
        "",
        f"**This scenario: {title}.** {description}",
        "",
        "## How it works",
        "- **Market.** Each month sellers offer oxide and firms bid for it; the market finds "
        "the prices at which what is bought equals what is sold, country by country. Export "
        "controls close or narrow trade links, so prices can split into two tiers.",
        "- **Firms** buy what they use plus a stock; when they fear shortages they want a "
        "bigger stock (hoarding), and after long high prices they learn to use less "
        "(thrifting).",
        "- **Miners** outside China invest when prices stay high, but new mines and "
        "separation plants take years.",
        "- **States** score their options by a payoff and learn which pays: they choose "
        "with bounded rationality (the logit intensity says how well). Scenarios can replay "
        "history (scripted events, numbered markers on the price chart) and free states "
        "from a date on.",
        "",
        "## How to use it",
        "1. Pick a scenario (it starts at once). Press **Step** for one month or **Play**.",
        "2. **Run to** a month (YYYY-MM) or to the **next scripted event**.",
        "3. Change a lever and press **Reset** (China's exports act live, from the next "
        "month). Only levers that act in this scenario are offered, with the month they "
        "start to act.",
        "4. **Compare** runs a second world with one lever changed (faded lines).",
        "5. **Projector mode** shows one chart at a time in large type; the arrows switch "
        "charts. Every chart downloads as SVG or PNG; the run downloads as CSV.",
        "",
        "Levers in this scenario: " + ("; ".join(levers) if levers else "none") + ".",
        "",
        "## Things to notice",
    ]
    if narrative.get("history"):
        parts += ["**What happened.** " + " ".join(str(narrative["history"]).split()), ""]
    if narrative.get("look_for"):
        parts += ["**What to look for.** " + " ".join(str(narrative["look_for"]).split()), ""]
    questions = narrative.get("questions") or []
    if questions:
        parts += ["**Questions for the class**", ""]
        parts += [f"{i}. {q}" for i, q in enumerate(questions, 1)]  # type: ignore[arg-type]
        parts.append("")
    parts += ["## Things to try", ""]
    parts += [f"- {what} *{look}*" for what, look in THINGS_TO_TRY]
    parts += ["", "## Words", ""]
    parts += [f"- **{term}**: {text}" for term, text in GLOSSARY.items()]
    parts += ["", "## Sources", "",
              "Every number from the world is in `abm/data/*.csv` with its source (USGS "
              "Mineral Commodity Summaries, the IEA, and the items of the project's facts "
              "file); behavioural parameters are documented assumptions with ranges. "
              "Observed data on the charts:", ""]
    parts += [f"- {s}" for s in sources] or ["- none for this period"]
    parts += ["", "Model: Mesa (agent-based modelling in Python); page: Solara."]
    return "\n".join(parts)
