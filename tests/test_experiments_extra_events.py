"""A spec's ``[[events]]``: events added to the scenario's own in every run, sweepable by id."""

from __future__ import annotations

import pytest

import abm
import experiments
from experiments.spec import parse_spec

SPEC = """
[experiment]
name = "magnet-licence"
scenario = "controls_2025"
steps = 17
seeds = 2

[fixed]
n_firms = 12

[[events]]
id = "licences_magnets"
date = "2025-04"
actor = "CHN"
action = "export"
instrument = "licence"
target = "all"
product = "magnet"

[sweep]
design = "factorial"

[sweep.parameters]
"event.licences_magnets.share" = [0.2, 0.8]

[[metrics]]
name = "magnet_exports"
column = "china_exports_magnet"
stat = "mean"
start = "2025-04"
"""

LICENCE = {"id": "licences_magnets", "date": "2025-04", "actor": "CHN", "action": "export",
           "instrument": "licence", "target": "all", "product": "magnet"}


def test_added_events_run_as_abm_simulate_runs_them_and_their_fields_sweep(tmp_path):
    spec = parse_spec(SPEC)
    assert spec.extra_events == [LICENCE]
    out = tmp_path / "out"
    summary = experiments.run_experiment(spec, out, workers=1, progress=False)
    assert (summary.done, summary.failed) == (4, 0)
    runs = experiments.load_results(out)
    for _, row in runs.iterrows():
        share = row["event.licences_magnets.share"]
        ref = abm.simulate("controls_2025", steps=17, rng=int(row["seed"]), n_firms=12,
                           extra_events=[LICENCE],
                           **{"event.licences_magnets.share": share})
        assert row["magnet_exports"] == ref["china_exports_magnet"].iloc[15:].mean()
    # a larger approved share lets more magnets out, seed by seed (the licence caps exports at
    # the share of the normal flow)
    wide = runs.pivot(index="seed", columns="event.licences_magnets.share",
                      values="magnet_exports")
    assert (wide[0.8] > wide[0.2]).all()


def test_the_events_count_in_the_spec_fingerprint():
    with_events = parse_spec(SPEC)
    block = SPEC[SPEC.index("[[events]]"):SPEC.index("[sweep]")]
    without = parse_spec(SPEC.replace(block, ""))  # the same spec but for its added event
    assert without.extra_events == []
    assert with_events.fingerprint() != without.fingerprint()
    assert "events" not in without.as_dict()  # specs without events keep their fingerprints
    other = parse_spec(SPEC.replace('date = "2025-04"', 'date = "2025-05"'))
    assert other.fingerprint() != with_events.fingerprint()


@pytest.mark.parametrize(("text", "message"), [
    (SPEC.replace("[[events]]", "[events]"), "[[events]] must be an array of tables"),
    (SPEC.replace('product = "magnet"', 'product = ["magnet"]'),
     "[[events]] 1: product must be a scalar"),
])
def test_a_malformed_events_section_is_one_line(text, message):
    with pytest.raises(experiments.SpecError) as err:
        parse_spec(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_bad_added_event_is_refused_before_anything_runs(tmp_path):
    text = SPEC.replace('action = "export"', 'action = "embargo"')
    with pytest.raises(experiments.ExperimentError) as err:
        experiments.run_experiment(parse_spec(text), tmp_path / "o", workers=1, progress=False)
    assert "extra event 1" in str(err.value) and "embargo" in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "o").exists()
