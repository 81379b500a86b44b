"""Supply frictions: ramp-ups, mothballing with hysteresis, exit, floors bound to named miners."""

import numpy as np
import pytest
from worlds import make_world

import abm
from abm.refining import Project, Ramp, RefiningCapacity, ramp_share
from abm.strategies import next_mine_status, restart_trigger


def world_with_costs(tmp_path, *, chn_cap, alt_cap, alt_cost, **kw):
    """The three-state test world with the allied mine's cash cost set (US$/kg REO)."""
    path = make_world(tmp_path, chn_cap=chn_cap, alt_cap=alt_cap, **kw)
    mines = tmp_path / "data" / "mines.csv"
    old = f"AUS,{alt_cap},0,0,6.0,"
    assert old in mines.read_text()
    mines.write_text(mines.read_text().replace(old, f"AUS,{alt_cap},0,0,{alt_cost},"))
    return path


# ----------------------------------------------------------------------------- ramp-ups
@pytest.mark.parametrize(("month", "ramp", "share"), [
    (0, 30, 0.0), (1, 30, 1 / 30), (24, 30, 0.8), (30, 30, 1.0), (31, 30, 1.0), (1, 1, 1.0),
    (-3, 5, 0.0), (2, 4, 0.5)])
def test_ramp_share_is_linear_to_full_output(month, ramp, share):
    assert ramp_share(month, ramp) == pytest.approx(share)


def test_lynas_ramp_reaches_eighty_percent_after_two_years():
    # the default ramp matches Lynas: ~80% of nameplate ~24 months after first feed
    months = abm.PARAMS["ramp_up_months"].default
    assert ramp_share(24, months) == pytest.approx(0.8)


def test_a_ramp_credits_its_capacity_month_by_month():
    r = Ramp(full_tpm=30.0, start_step=10, months=3)
    assert [r.advance(t) for t in (10, 11, 12, 13)] == pytest.approx([10.0, 10.0, 10.0, 0.0])
    assert r.credited == pytest.approx(30.0) and r.done(12) and not r.done(11)


def test_refining_projects_ramp_up_after_completion():
    cap = RefiningCapacity(("A", "B"), np.array([5.0, 0.0]))
    cap.commission("B", 1200.0, ready_step=2, kind="separation", ramp_months=4)
    seen = []
    for month in range(8):
        seen.append(cap.tpm[1])
        cap.complete(month)
    # ready at month 2: 25, 50, 75, 100 t/month from month 3 on
    assert seen == pytest.approx([0, 0, 0, 25, 50, 75, 100, 100])
    assert cap.tpm[0] == 5.0 and not cap.ramps and not cap.pipeline


def test_a_mine_project_ramps_up_with_its_refinery(tmp_path):
    world = make_world(tmp_path, chn_cap=80_000, alt_cap=12_000, horizon=12,
                       params="ramp_up_months = 4\nrefining_ramp_up_months = 3")
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    alt = m.miner("ALT_MINE")
    base, ref = alt.capacity_tpm, m.refining.tpm[m.cidx["USA"]]
    alt.pipeline.append(Project(2400.0, ready_step=1, kind="project"))  # 200 t/month
    caps, refs = [], []
    for _ in range(6):
        m.step()
        caps.append(alt.capacity_tpm - base)
        refs.append(m.refining.tpm[m.cidx["USA"]] - ref)
    # the mine's capacity of each month: a quarter more each month from month 1
    assert caps == pytest.approx([0, 50, 100, 150, 200, 200])
    # the refinery built with it (a third more each month), read at the end of each month:
    # the capacity of the next (month 2: 2/3 of 200 t/month, month 3: all)
    assert refs == pytest.approx([0, 400 / 3, 200, 200, 200, 200])


# ----------------------------------------------------------------------------- hysteresis
def test_restart_trigger_covers_the_restart_cost():
    # a restart costing 6 months of cash cost, earned back in 24 months at a margin of 25%
    assert restart_trigger(6.0, 24.0) == pytest.approx(1.25)
    assert restart_trigger(0.0, 24.0) == 1.0


@pytest.mark.parametrize(("status", "idle", "mean", "expected"), [
    ("operating", 0, None, "operating"),
    ("operating", 0, 0.79, "mothballed"),
    ("operating", 0, 0.8, "operating"),  # at the trigger: keeps running
    ("operating", 0, 1.5, "operating"),
    ("mothballed", 3, 1.0, "mothballed"),  # cash-positive but inside the band
    ("mothballed", 3, 1.24, "mothballed"),
    ("mothballed", 3, 1.25, "operating"),
    ("mothballed", 12, 0.5, "closed"),
    ("mothballed", 12, 1.3, "operating"),  # a restart beats the exit
    ("mothballed", 11, None, "mothballed"),
    ("closed", 0, 3.0, "closed"),
])
def test_next_mine_status(status, idle, mean, expected):
    assert next_mine_status(status, idle, mean, 0.8, 1.25, 12) == expected


def scripted_statuses(miner, model, margins):
    """Feed a margin path month by month to ``review_status``; return statuses, outputs."""
    statuses, outputs = [], []
    for t, ratio in enumerate(margins):
        model.month = t
        miner.review_status()
        statuses.append(miner.status)
        legal, _ = miner.planned_output(ratio, record=True)
        outputs.append(legal)
    return statuses, outputs


def scripted_world(tmp_path, exit_after=60):
    world = make_world(tmp_path, chn_cap=80_000, alt_cap=12_000, horizon=24, params=(
        "mothball_window_months = 3\nmothball_margin_ratio = 0.8\nrestart_cost_months = 6\n"
        "restart_payback_months = 24\nrestart_ramp_months = 2\ncare_cost_share = 0.05\n"
        f"output_smoothing_months = 1\nexit_after_months = {exit_after}"))
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    return m, m.miner("ALT_MINE")


@pytest.fixture
def scripted(tmp_path):
    return scripted_world(tmp_path)


def test_a_scripted_margin_path_mothballs_and_restarts_only_past_the_trigger(scripted):
    m, alt = scripted
    margins = [1.0, 1.0, 1.0, 0.6, 0.6, 0.6, 1.0, 1.2, 1.2, 1.2, 1.3, 1.3, 1.3, 1.3]
    statuses, outputs = scripted_statuses(alt, m, margins)
    # the status at month t follows the mean of the three margins before it:
    # t=4: (1.0+1.0+0.6)/3 = 0.87 runs on; t=5: (1.0+0.6+0.6)/3 = 0.73 < 0.8 mothballs;
    # t=6..11: 0.6, 0.73, 0.93, 1.13, 1.2, 1.23 lie below 1.25 (from t=9 cash-positive but
    # inside the band); t=12: (1.2+1.3+1.3)/3 = 1.27 >= 1.25 restarts
    assert statuses[:5] == ["operating"] * 5
    assert statuses[5:12] == ["mothballed"] * 7
    assert statuses[12:] == ["operating"] * 2
    assert outputs[5:12] == [0.0] * 7
    # output ramps back over two months: half of capacity, then all of it
    assert outputs[12] == pytest.approx(alt.capacity_tpm * 0.5)
    assert outputs[13] == pytest.approx(alt.capacity_tpm)
    full_cost = 6.0 * alt.capacity_tpm * 1e3  # US$/month at full output
    assert alt.care_cost_usd == pytest.approx(7 * 0.05 * full_cost)
    assert alt.restart_cost_usd == pytest.approx(6 * full_cost)
    log = m.event_log_frame()
    assert list(log.loc[log["actor"] == "ALT_MINE", "action"]) == ["mothball", "restart"]


def test_a_long_mothball_ends_in_exit_and_only_a_project_brings_the_mine_back(tmp_path):
    m, alt = scripted_world(tmp_path, exit_after=3)
    statuses, _ = scripted_statuses(alt, m, [0.5] * 9)
    # mothballed at t=3 (first full window), idle 1, 2, 3 months: exits at t=6
    assert statuses == ["operating"] * 3 + ["mothballed"] * 3 + ["closed"] * 3
    assert alt.capacity_tpm == 0.0 and alt.planned_output(2.0, record=False) == (0.0, 0.0)
    alt.pipeline.append(Project(1200.0, ready_step=m.month + 1, kind="project"))
    alt.margin_history = [2.0] * 3  # margins have recovered
    m.month += 1
    alt.invest()
    assert alt.status == "operating"
    assert alt.capacity_tpm == pytest.approx(100.0 / m.sc.ramp_up_months)


def test_a_mine_idles_through_a_slump_and_restarts_only_after_prices_recover(tmp_path):
    # China floods the market (capacity 100 kt REO against use for ~100 kt): the allied mine
    # (cash cost 14 US$/kg REO, revenue ~7.5 at the sellers' reserve prices) mothballs; from
    # 2032-01 China caps its mines at 50 kt and stops illegal mining: prices recover
    events = ('[[events]]\ndate = "2032-01"\nactor = "CHN"\naction = "mining_quota"\n'
              'tonnes_per_yr = 50000\n'
              '[[events]]\ndate = "2032-01"\nactor = "CHN"\naction = "enforcement"\n'
              'level = 1.0\n')
    world = world_with_costs(tmp_path, chn_cap=100_000, alt_cap=20_000, alt_cost=14.0,
                             horizon=60, events=events,
                             params="china_capacity_growth_per_yr = 0.0")
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    alt = m.miner("ALT_MINE")
    sc = m.sc
    trigger = 1 + sc.restart_cost_months / sc.restart_payback_months
    w = sc.mothball_window_months
    margins, statuses, outputs = [], [], []
    for _ in range(60):
        m.step()
        margins.append(alt.margin_history[-1])
        statuses.append(alt.status)
        outputs.append(alt.output_tpm)
    dates = list(m.results_frame()["date"])
    first_idle = statuses.index("mothballed")
    assert dates[first_idle] < "2032-01"  # idles during the slump
    restart = first_idle + statuses[first_idle:].index("operating")
    assert dates[restart] > "2032-01"  # restarts only after the recovery began
    assert all(o == 0.0 for o in outputs[first_idle:restart])
    assert outputs[restart] > 0.0
    # the decision at month t uses the margins of months t-w .. t-1
    mean = [np.mean(margins[t - w:t]) for t in range(first_idle + 1, restart + 1)]
    assert mean[-1] >= trigger and all(x < trigger for x in mean[:-1])
    # hysteresis: while idle, the mine saw months it would have run at (margin above its
    # mothball trigger and above cash cost) without restarting
    assert any(1.0 <= x < trigger for x in mean[:-1])


# ----------------------------------------------------------------------------- bound support
def test_the_2025_us_floor_binds_mp_materials_only(run):
    df_log = abm.RareEarthModel(scenario="controls_2025", rng=0)
    for _ in range(36):
        df_log.step()
    log = df_log.event_log_frame()
    switched = log[(log["action"] == "offtake") & (log["source"] == "choice")]
    assert switched.empty, switched
    assert df_log.miner("MTWELD").bloc == "JPN"  # Lynas stays with Japan, its financier
    assert df_log.miner("MTWELD").floor_payer == ""
    assert df_log.miner("MTPASS").floor_payer == "USA"
    assert df_log.states["USA"].floor_offer_miners == frozenset({"MTPASS"})


def test_an_open_floor_is_still_chosen_by_miners_outside_china():
    # a floor well above the market (300 US$/kg), open to every miner the US may pay
    m = abm.RareEarthModel(scenario="controls_2025", rng=0, **{"event.floor.miners": "open",
                                                                "event.floor.usd_per_kg": 300})
    for _ in range(36):
        m.step()
    log = m.event_log_frame()
    switched = log[(log["action"] == "offtake") & (log["source"] == "choice")]
    assert not switched.empty  # the same offer open to all pulls other miners
    assert m.states["USA"].floor_offer_miners is None
