"""`load_scenario(..., extra_events=[...])`: what-ifs that add an event a scenario file lacks."""

import pytest

import abm
from abm import InputError

LICENCE = {"id": "licences_magnets", "date": "2025-04", "actor": "CHN", "action": "export",
           "instrument": "licence", "target": "all", "product": "magnet"}


def _events_on(sc, event_id):
    return [e for e in sc.events if e.id == event_id]


def test_an_added_event_joins_the_timeline_like_a_file_event():
    shipped = abm.load_scenario("controls_2025")
    sc = abm.load_scenario("controls_2025", extra_events=[LICENCE])
    assert len(sc.events) == len(shipped.events) + 1
    (ev,) = _events_on(sc, "licences_magnets")
    assert (ev.date, ev.actor, ev.action) == ("2025-04", "CHN", "export")
    assert ev.args == {"instrument": "licence", "target": "all", "product": "magnet"}
    # the timeline stays sorted by date
    dates = [e.date for e in sc.events]
    assert dates == sorted(dates)


def test_an_added_event_changes_the_run_from_its_month_and_not_before():
    base = abm.simulate("controls_2025", rng=3, steps=18).set_index("date")
    sc = abm.load_scenario("controls_2025", extra_events=[LICENCE])
    added = abm.simulate(sc, rng=3, steps=18).set_index("date")
    before = base.index < "2025-04"
    assert added[before].equals(base[before])
    # a licence approves a share of the normal flow, after a backlog that clears over
    # licence_delay_months, so China's magnet exports fall in its first months (hand reasoning:
    # shipped, magnets are not licensed at all)
    months = ["2025-04", "2025-05"]
    assert (added.loc[months, "china_exports_magnet"]
            < 0.5 * base.loc[months, "china_exports_magnet"]).all()
    log = abm.RareEarthModel(scenario=sc, rng=3)
    for _ in range(16):
        log.step()
    text = log.event_log_frame()
    april = text[(text["date"] == "2025-04") & (text["action"] == "export")]
    share = abm.PARAMS["licence_share"].default  # the licence's default approved share
    assert f"China: exports of magnet to all -> licence {share:.0%}" in april["detail"].tolist()


def test_an_added_event_can_be_edited_by_its_id_and_survives_a_reload():
    sc = abm.load_scenario("controls_2025", extra_events=[LICENCE],
                           **{"event.licences_magnets.share": 0.3})
    assert _events_on(sc, "licences_magnets")[0].args["share"] == 0.3
    again = abm.load_scenario(sc, **{"event.licences_magnets.share": 0.6})
    assert _events_on(again, "licences_magnets")[0].args["share"] == 0.6
    assert len(again.events) == len(sc.events)
    # a scenario object handed back in keeps its added event
    assert _events_on(abm.load_scenario(again), "licences_magnets")


def test_the_callers_dicts_are_not_changed():
    row = dict(LICENCE)
    abm.load_scenario("controls_2025", extra_events=[row],
                      **{"event.licences_magnets.share": 0.3})
    assert row == LICENCE


def test_the_same_added_event_and_seed_give_the_same_frame():
    sc = abm.load_scenario("controls_2025", extra_events=[LICENCE])
    assert abm.simulate(sc, rng=5, steps=20).equals(abm.simulate(sc, rng=5, steps=20))


@pytest.mark.parametrize(("extra", "message"), [
    (LICENCE, "extra_events must be a list of events"),
    ("licence", "extra_events must be a list of events"),
    (["licence"], "extra event 1 must be a dict of event fields, got str"),
    ([{**LICENCE, "action": "embargo"}], "extra event 1 (licences_magnets): unknown action "
                                         "'embargo'"),
    ([{**LICENCE, "date": "2025-13"}], "extra event 1 (licences_magnets) date must be YYYY-MM"),
    ([{**LICENCE, "colour": "red"}], "extra event 1 (licences_magnets): unknown keys colour"),
    ([{k: v for k, v in LICENCE.items() if k != "actor"}], "extra event 1: lacks 'actor'"),
    ([LICENCE, LICENCE], "event id 'licences_magnets' is used twice"),
    ([{**LICENCE, "id": "licences_apr_2025"}], "event id 'licences_apr_2025' is used twice"),
])
def test_a_bad_added_event_is_one_clear_line(extra, message):
    with pytest.raises(InputError) as err:
        abm.load_scenario("controls_2025", extra_events=extra)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_an_added_event_naming_an_unknown_state_fails_before_the_first_month():
    bad = [{**LICENCE, "actor": "ATL"}]
    sc = abm.load_scenario("controls_2025", extra_events=bad)
    with pytest.raises(InputError, match="ATL"):
        abm.RareEarthModel(scenario=sc, rng=0)


def test_events_can_be_added_to_a_scenario_object_too():
    shipped = abm.load_scenario("controls_2025")
    sc = abm.load_scenario(shipped, extra_events=[LICENCE])
    assert len(sc.events) == len(shipped.events) + 1
    assert _events_on(sc, "licences_magnets")[0].args["product"] == "magnet"
    assert not _events_on(shipped, "licences_magnets")  # the object handed in is unchanged


def test_an_added_event_applies_after_the_files_events_of_its_month():
    # the file licenses China's heavy-oxide exports in 2025-04; an added event of the same
    # month that opens them again is applied after it, so it has the last word
    reopen = {"id": "reopen_heavy", "date": "2025-04", "actor": "CHN", "action": "export",
              "instrument": "open", "target": "all", "product": "heavy"}
    shipped = abm.RareEarthModel(scenario="controls_2025", rng=0)
    added = abm.RareEarthModel(scenario=abm.load_scenario("controls_2025",
                                                          extra_events=[reopen]), rng=0)
    to_object = abm.RareEarthModel(scenario=abm.load_scenario(
        abm.load_scenario("controls_2025"), extra_events=[reopen]), rng=0)
    for m in (shipped, added, to_object):
        while m.date != "2025-04":
            m.step()
        m.step()  # 2025-04: the month's events apply
    assert shipped.export_instrument("CHN", "all", "heavy") == "licence"
    assert added.export_instrument("CHN", "all", "heavy") == "open"
    assert to_object.export_instrument("CHN", "all", "heavy") == "open"


def test_changing_the_callers_dict_afterwards_does_not_change_the_scenario():
    row = dict(LICENCE)
    sc = abm.load_scenario("controls_2025", extra_events=[row])
    row["product"] = "light"
    # an edit re-reads the scenario's event rows
    edited = abm.load_scenario(sc, **{"event.licences_magnets.share": 0.5})
    assert _events_on(edited, "licences_magnets")[0].args["product"] == "magnet"


def test_simulate_and_the_model_take_extra_events_as_a_keyword():
    sc = abm.load_scenario("controls_2025", extra_events=[LICENCE])
    via_object = abm.simulate(sc, rng=2, steps=17)
    assert abm.simulate("controls_2025", rng=2, steps=17, extra_events=[LICENCE]).equals(
        via_object)
    model = abm.RareEarthModel(scenario="controls_2025", rng=2, extra_events=[LICENCE])
    for _ in range(17):
        model.step()
    assert model.results_frame().equals(via_object)
