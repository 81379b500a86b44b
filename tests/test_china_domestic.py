"""China at home: quotas, illegal mining and enforcement, the reserve band, domestic choice."""

from pathlib import Path

import numpy as np
import pytest
from worlds import make_world

import abm
from abm import payoff
from abm.domestic import (
    IONIC,
    LIGHT,
    DomesticPolicy,
    ReserveBand,
    deposit_kind,
    illegal_output,
    quota_caps,
    reserve_orders,
)
from abm.refining import SupplyPlan
from abm.strategies import recognise
from abm.valuation import domestic_payoffs

ROOT = Path(__file__).resolve().parents[1]
MINES = [("A", LIGHT, 100.0), ("B", LIGHT, 50.0), ("C", IONIC, 30.0)]  # t REO/month
STEADY = "china_capacity_growth_per_yr = 0.0"


# ----------------------------------------------------------------------------- quotas
@pytest.mark.parametrize(("policy", "expected"), [
    # no quota: nothing caps
    (DomesticPolicy(), {"A": np.inf, "B": np.inf, "C": np.inf}),
    # 120 t/month over 180 t of capacity, by capacity: light 100, ionic 20
    (DomesticPolicy(mining_quota_tpy=1440), {"A": 200 / 3, "B": 100 / 3, "C": 20.0}),
    # split quotas: light 80, ionic 10
    (DomesticPolicy(light_quota_tpy=960, ionic_quota_tpy=120),
     {"A": 160 / 3, "B": 80 / 3, "C": 10.0}),
    # a total and a light share: ionic mines get what is left (100 - 80)
    (DomesticPolicy(mining_quota_tpy=1200, light_quota_tpy=960),
     {"A": 160 / 3, "B": 80 / 3, "C": 20.0}),
    # shares summing to more than the total are scaled down to it (100 of 150)
    (DomesticPolicy(mining_quota_tpy=1200, light_quota_tpy=1200, ionic_quota_tpy=600),
     {"A": 400 / 9, "B": 200 / 9, "C": 100 / 3}),
    # a separation quota of 80 t/month scales the kinds' 100 + 20 down by 2/3
    (DomesticPolicy(mining_quota_tpy=1440, separation_quota_tpy=960),
     {"A": 400 / 9, "B": 200 / 9, "C": 40 / 3}),
    # a separation quota alone: 90 of the 180 t of capacity
    (DomesticPolicy(separation_quota_tpy=1080), {"A": 50.0, "B": 25.0, "C": 15.0}),
])
def test_quota_caps_by_hand(policy, expected):
    assert quota_caps(MINES, policy) == pytest.approx(expected)


def test_a_separation_quota_in_oxide_allows_more_concentrate_at_lower_recovery():
    # 80 t/month of separated oxide at 0.8 t oxide per t REO fed allows 100 t REO of
    # concentrate: the kinds' 100 + 20 t scale down by 100/120 = 5/6
    policy = DomesticPolicy(mining_quota_tpy=1440, separation_quota_tpy=960)
    assert quota_caps(MINES, policy, recovery=0.8) == pytest.approx(
        {"A": 500 / 9, "B": 250 / 9, "C": 50 / 3})
    # at 2/3 recovery the same 80 t allow 120 t: the separation quota no longer binds
    assert quota_caps(MINES, policy, recovery=2 / 3) == pytest.approx(quota_caps(
        MINES, DomesticPolicy(mining_quota_tpy=1440)))


def test_deposit_kinds_follow_the_heavy_share():
    assert deposit_kind(0.001, 0.02) == LIGHT and deposit_kind(0.05, 0.02) == IONIC
    assert deposit_kind(0.02, 0.02) == IONIC  # "at least" the threshold


@pytest.mark.parametrize(("mines", "policy", "expected"), [
    # a light share above the total: scaled down to the whole total (100 of 150 t/month),
    # nothing left for the ionic mines
    (MINES, DomesticPolicy(mining_quota_tpy=1200, light_quota_tpy=1800),
     {"A": 200 / 3, "B": 100 / 3, "C": 0.0}),
    # a separation quota above capacity: every mine at its capacity (not more, not inf)
    (MINES, DomesticPolicy(separation_quota_tpy=12_000), {"A": 100.0, "B": 50.0, "C": 30.0}),
    # an idle ionic mine (0 t capacity) gets nothing, and nothing divides by zero
    ([("A", LIGHT, 100.0), ("C", IONIC, 0.0)], DomesticPolicy(mining_quota_tpy=600),
     {"A": 50.0, "C": 0.0}),
    ([("A", LIGHT, 100.0), ("C", IONIC, 0.0)],
     DomesticPolicy(mining_quota_tpy=600, light_quota_tpy=480), {"A": 40.0, "C": 0.0}),
    ([("A", LIGHT, 0.0), ("C", IONIC, 0.0)], DomesticPolicy(separation_quota_tpy=600),
     {"A": 0.0, "C": 0.0}),
    # below a tonne a month the same rules hold: 0.3 + 0.6 t of capacity share a 0.45 t
    # quota by capacity (0.15 and 0.3), and a 0.45 t separation quota halves them
    ([("A", LIGHT, 0.3), ("C", IONIC, 0.6)], DomesticPolicy(mining_quota_tpy=5.4),
     {"A": 0.15, "C": 0.3}),
    ([("A", LIGHT, 0.3), ("C", IONIC, 0.6)], DomesticPolicy(separation_quota_tpy=5.4),
     {"A": 0.15, "C": 0.3}),
])
def test_quota_caps_at_the_edges_by_hand(mines, policy, expected):
    assert quota_caps(mines, policy) == pytest.approx(expected)


def test_a_copied_policy_has_its_own_reserve_bands():
    policy = DomesticPolicy(reserve_band={"light": ReserveBand(10.0, 20.0, 5.0, 100.0)})
    copy = policy.copy()
    copy.reserve_band["heavy"] = ReserveBand(1.0, 2.0, 1.0, 1.0)
    assert set(policy.reserve_band) == {"light"}


# ----------------------------------------------------------------------------- illegal mining
@pytest.mark.parametrize(("revenue", "enforcement", "expected"), [
    (15.0, 0.0, 100.0),   # illegal ratio 15 / (10 x 0.5) = 3 >= 1.5: all of the potential
    (15.0, 0.25, 75.0),   # a quarter of it stopped
    (6.0, 0.25, 30.0),    # ratio 1.2: (1.2 - 1) / (1.5 - 1) = 0.4 of it, 3/4 not stopped
    (5.0, 0.0, 0.0),      # ratio 1: nothing
    (4.0, 0.0, 0.0),      # below cost: nothing
    (15.0, 1.0, 0.0),     # full enforcement
    (15.0, 1.5, 0.0),     # enforcement is a share: above 1 it stops everything, no more
])
def test_illegal_output_grows_with_the_margin_and_shrinks_with_enforcement(revenue, enforcement,
                                                                          expected):
    got = illegal_output(100.0, revenue, 10.0, cost_ratio=0.5, full_margin_ratio=1.5,
                         enforcement=enforcement)
    assert got == pytest.approx(expected)


def test_illegal_output_for_small_potentials_and_cheap_mines():
    assert illegal_output(0.0, 15.0, 10.0, 0.5, 1.5, 0.0) == 0.0
    assert illegal_output(0.5, 15.0, 10.0, 0.5, 1.5, 0.0) == pytest.approx(0.5)
    # illegal cost 0.5 x a legal 1 US$/kg: ratio 1.2 / 0.5 = 2.4, (2.4 - 1) / (3 - 1) = 0.7
    assert illegal_output(100.0, 1.2, 1.0, 0.5, 3.0, 0.0) == pytest.approx(100.0 * 1.4 / 2.0)


def test_a_mining_quota_caps_chinas_mines_and_the_idle_capacity_leaks(tmp_path):
    # China's mine: 72,000 t REO/yr = 6,000 t/month; quota 24,000 t/yr = 2,000 t/month.
    # The quota idles 4,000 t/month, of which 0.7 is worked illegally at a full margin,
    # 40% of that stopped: 4,000 x 0.7 x 0.6 = 1,680 t/month
    events = ('[[events]]\ndate = "2030-01"\nactor = "CHN"\naction = "mining_quota"\n'
              'tonnes_per_yr = 24000\n'
              '[[events]]\ndate = "2030-01"\nactor = "CHN"\naction = "enforcement"\n'
              'level = 0.4\n')
    world = make_world(tmp_path, chn_cap=72_000, alt_cap=20_000, horizon=6, events=events,
                       params=STEADY + "\nillegal_capacity_share = 0.7")
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    chn = m.miner("CHN_MINE")
    for _ in range(3):
        m.step()
        assert chn.output_tpm == pytest.approx(2000.0 + 1680.0)
        assert chn.illegal_tpm == pytest.approx(1680.0)
        assert m.last_month.plan.supply.illegal["CHN_MINE"] == pytest.approx(1680.0)
        assert m.results_frame()["china_share_mining"].iloc[-1] == pytest.approx(
            3680.0 / (3680.0 + m.miner("ALT_MINE").output_tpm))
    # full enforcement: the quota alone
    m.apply_action("CHN", "enforcement", {"level": 1.0})
    m.step()
    assert chn.output_tpm == pytest.approx(2000.0) and chn.illegal_tpm == 0.0


def _china_price(path, seed=0):
    df = abm.simulate(str(path), rng=seed)
    return df.set_index("date")["price_light_china"]


def test_a_quota_cut_with_a_crackdown_raises_chinas_domestic_price(tmp_path):
    # China mines 95 of 100 kt; from 2031-01 it caps its mines at 60 kt/yr
    cut = ('[[events]]\ndate = "2031-01"\nactor = "CHN"\naction = "mining_quota"\n'
           'tonnes_per_yr = 60000\n')
    crackdown = ('[[events]]\ndate = "2031-01"\nactor = "CHN"\naction = "enforcement"\n'
                 'level = 0.9\n')
    kw = {"chn_cap": 95_000, "alt_cap": 5_000, "horizon": 30, "params": STEADY}
    none = _china_price(make_world(tmp_path / "none", **kw))
    quota = _china_price(make_world(tmp_path / "quota", events=cut, **kw))
    both = _china_price(make_world(tmp_path / "both", events=cut + crackdown, **kw))
    before = [d for d in none.index if d < "2031-01"]
    after = [d for d in none.index if d >= "2031-07"]
    np.testing.assert_allclose(both[before], none[before])  # nothing changes before
    # a cut raises China's price; a cut that illegal miners cannot fill raises it more
    assert quota[after].mean() > 1.1 * none[after].mean()
    assert both[after].mean() > 1.1 * quota[after].mean()


# ----------------------------------------------------------------------------- the reserve
def test_reserve_orders_by_hand():
    band = ReserveBand(support=50.0, ceiling=100.0, buy_tpm=10.0, target_t=100.0)
    assert reserve_orders(95.0, band, 1 / 5) == pytest.approx((5.0, 50.0, 19.0, 100.0))
    assert reserve_orders(20.0, band, 1 / 5) == pytest.approx((10.0, 50.0, 4.0, 100.0))
    assert reserve_orders(120.0, band, 0.0)[0] == 0.0  # above target: no bid
    never = ReserveBand(50.0, float("inf"), 10.0, 100.0)
    assert reserve_orders(95.0, never, 1 / 5)[2] == 0.0  # no ceiling: never sells
    flat = ReserveBand(50.0, 20.0, 10.0, 100.0)
    assert reserve_orders(95.0, flat, 1 / 5)[3] > 50.0  # the ask stays above the support


def test_the_reserve_buys_only_at_or_below_its_support(tmp_path):
    # support 58 US$/kg: near China's price in this world (~57-62), so some months are on
    # each side of it
    events = ('[[events]]\ndate = "2030-01"\nactor = "CHN"\naction = "state_reserve"\n'
              'mode = "band"\nproduct = "light"\nsupport_usd_per_kg = 58.0\n'
              'buy_tonnes_per_month = 40.0\ntonnes = 100000.0\n')
    world = make_world(tmp_path, chn_cap=95_000, alt_cap=5_000, horizon=36, events=events)
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    chn = m.states["CHN"]
    bought, price = [], []
    for _ in range(36):
        before = chn.stockpile["light"]
        m.step()
        bought.append(chn.stockpile["light"] - before)
        price.append(float(m.exchange.price["light"][chn.index]))
    bought, price = np.array(bought), np.array(price)
    below, above = price < 58.0 - 1e-6, price > 58.0 + 1e-6
    assert below.any() and above.any()
    # below the support it buys (its whole monthly amount, or a pro-rata part in months when
    # its bid, snapped to the demand grid, is the marginal one and is shared with traders'
    # and firms' orders at the same step); above it, nothing
    assert np.all(bought[below] > 0.0) and np.all(bought <= 40.0 * 1.1)
    assert np.median(bought[below]) > 0.9 * 40.0
    assert np.all(bought[above] == 0.0)


def test_the_reserve_releases_only_at_or_above_its_ceiling(tmp_path):
    events = ('[[events]]\ndate = "2030-01"\nactor = "CHN"\naction = "state_reserve"\n'
              'mode = "band"\nproduct = "light"\nsupport_usd_per_kg = 1.0\n'
              'ceiling_usd_per_kg = 58.0\n')
    world = make_world(tmp_path, chn_cap=95_000, alt_cap=5_000, horizon=24, events=events,
                       params="reserve_release_share = 0.1")
    (tmp_path / "data" / "states.csv").write_text(
        (tmp_path / "data" / "states.csv").read_text().replace(
            "2030,CHN,China,true,10000,600,0,0", "2030,CHN,China,true,10000,600,5000,0"))
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    chn = m.states["CHN"]
    for _ in range(24):
        stock = chn.stockpile["light"]
        m.step()
        sold = stock - chn.stockpile["light"]
        price = float(m.exchange.price["light"][chn.index])
        if price < 58.0 - 1e-6:
            assert sold == 0.0
        assert sold <= 0.1 * stock + 1e-9
    assert chn.stockpile["light"] < 5000.0  # it did sell when the price reached the ceiling


# ----------------------------------------------------------------------------- payoff terms
def test_downstream_cost_by_hand():
    # 100 t bought at home at 80 US$/kg against a reference of 60: 100 x 20 x 1e-3
    assert payoff.downstream(1.0, 100.0, 80.0, 60.0) == pytest.approx(-2.0)
    assert payoff.downstream(0.5, 100.0, 40.0, 60.0) == pytest.approx(1.0)  # cheaper: a gain


class _M:  # a miner as mining_cost reads it
    def __init__(self, mine_id, country, refine, cost, fixed=0.0):
        self.mine_id, self.country, self.refine_country = mine_id, country, refine
        self.cost_usd_per_kg, self.month_fixed_cost_usd = cost, fixed


def test_mining_cost_by_hand():
    supply = SupplyPlan({"light": np.zeros(2), "heavy": np.zeros(2)}, np.zeros(2))
    supply.routes = {"N": (1000.0, 0.0), "F": (200.0, 300.0), "U": (100.0, 0.0)}
    supply.illegal = {"N": 400.0}
    miners = [_M("N", "CHN", "CHN", 4.0), _M("F", "MMR", "AUS", 10.0),
              _M("U", "USA", "USA", 6.0, fixed=50_000.0)]
    # China: 600 t legal x 4 + 400 t illegal x 4 x 0.5 + 300 t of F's concentrate x 10
    # = 2,400 + 800 + 3,000 = 6,200 US$ thousand
    assert payoff.mining_cost("CHN", miners, supply, 0.5) == pytest.approx(-6.2)
    # Australia refines F's 200 t at home: 2,000 US$ thousand
    assert payoff.mining_cost("AUS", miners, supply, 0.5) == pytest.approx(-2.0)
    # the USA: 100 t x 6 + its mine's care and restart costs of US$ 50,000
    assert payoff.mining_cost("USA", miners, supply, 0.5) == pytest.approx(-0.65)
    # a mothballed mine routes nothing this month: only its care cost of US$ 20,000 counts
    idle = [*miners, _M("I", "USA", "USA", 6.0, fixed=20_000.0)]
    assert payoff.mining_cost("USA", idle, supply, 0.5) == pytest.approx(-0.67)
    assert payoff.mining_cost("CHN", idle, supply, 0.5) == pytest.approx(-6.2)


# ----------------------------------------------------------------------------- the choice
def domestic_world(tmp_path, chn_use, other_use=5000, params="", free_from="start"):
    free = (f'free_from = "{free_from}"\ndecision_interval_months = 3\n' + STEADY + "\n"
            + params)
    return make_world(tmp_path, chn_cap=95_000, alt_cap=5_000, chn_use=chn_use,
                      usa_use=other_use, jpn_use=other_use, horizon=12, params=free)


def test_valuing_domestic_strategies_changes_nothing(tmp_path):
    # not free before 2031: the first month enacts nothing, so the policy is still the default
    world = domestic_world(tmp_path, chn_use=10_000, free_from="2031-01")
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    m.step()
    chn = m.states["CHN"]
    before = (chn.domestic, dict(chn.stockpile), [x.output_tpm for x in m.miners],
              len(m.event_log))
    values = domestic_payoffs(m, chn, ("expand", "steady", "cut", "reserve_support"))
    assert chn.domestic is before[0] and chn.domestic.mining_quota_tpy is None
    assert (dict(chn.stockpile), [x.output_tpm for x in m.miners], len(m.event_log)) == (
        before[1:])
    assert len(set(values.values())) > 1


def _cut_gain(path):
    """Value of a cut over steady after one month in which China enacted nothing."""
    m = abm.RareEarthModel(scenario=str(path), rng=0)
    m.step()
    v = domestic_payoffs(m, m.states["CHN"], ("steady", "cut"))
    return v["cut"] - v["steady"]


def test_a_cut_pays_an_exporter_and_not_a_state_whose_industry_uses_its_output(tmp_path):
    # China mines 95 of 100 kt REO (19 kt NdPr). As an exporter (its firms use 10 kt of the
    # 20 kt NdPr used) a cut raises what the world pays it. When its own firms use nearly all
    # of it (19 kt; 0.2 kt abroad), the higher price only moves money from its industry to
    # its refiners, while it sells less: the cut does not pay
    later = "2031-01"
    exporter = _cut_gain(domestic_world(tmp_path / "x", 10_000, free_from=later))
    closed = _cut_gain(domestic_world(tmp_path / "c", 19_000, other_use=100, free_from=later))
    assert exporter > 0 > closed
    # without the downstream term (its industry's cost not counted), the cut would pay
    blind = _cut_gain(domestic_world(tmp_path / "b", 19_000, other_use=100, free_from=later,
                                     params="payoff_downstream_weight = 0.0"))
    assert blind > 0


def test_domestic_strategies_are_recognised_and_move_the_quotas(tmp_path):
    world = domestic_world(tmp_path, chn_use=10_000)
    m = abm.RareEarthModel(scenario=str(world), rng=0, domestic_quota_step=0.1,
                           crackdown_enforcement=0.5)
    chn = m.states["CHN"]
    cap = 95_000.0
    assert recognise(m, chn, "domestic") == "steady"
    m.play_strategy("CHN", "domestic", "cut")
    assert recognise(m, chn, "domestic") == "cut" and "domestic" in chn.pinned
    assert chn.domestic.mining_quota_tpy == pytest.approx(0.9 * cap)
    assert chn.domestic.enforcement == 0.5
    m.play_strategy("CHN", "domestic", "cut")  # a second cut compounds
    assert chn.domestic.mining_quota_tpy == pytest.approx(0.81 * cap)
    for _ in range(5):
        m.play_strategy("CHN", "domestic", "expand")  # never above 1.1 x capacity
    assert chn.domestic.mining_quota_tpy == pytest.approx(1.1 * cap)
    m.play_strategy("CHN", "domestic", "reserve_support")
    band = chn.domestic.reserve_band["light"]
    assert band.support == pytest.approx(m.sc.reserve_support_ratio * 60.0)
    assert band.ceiling == pytest.approx(m.sc.reserve_ceiling_ratio * 60.0)
    assert recognise(m, chn, "domestic") == "reserve_support"
    m.play_strategy("CHN", "domestic", "steady")
    assert not chn.domestic.reserve_band and recognise(m, chn, "domestic") == "steady"
    for _ in range(12):
        m.play_strategy("CHN", "domestic", "cut")  # never below half the capacity
    assert chn.domestic.mining_quota_tpy == pytest.approx(0.5 * cap)


def test_only_a_dominant_producer_decides_a_domestic_policy(tmp_path):
    from abm.strategies import DOMAINS
    m = abm.RareEarthModel(scenario=str(domestic_world(tmp_path, 10_000)), rng=0)
    assert DOMAINS["domestic"].eligible(m, m.states["CHN"])
    assert not DOMAINS["domestic"].eligible(m, m.states["USA"])


def test_a_free_china_chooses_its_domestic_policy_at_decision_months(tmp_path):
    m = abm.RareEarthModel(scenario=str(domestic_world(tmp_path, 10_000)), rng=0)
    for _ in range(7):
        m.step()
    assert set(m.states["CHN"].attractions["domestic"]) == {
        "expand", "steady", "cut", "reserve_support"}
    assert "domestic" not in m.states["USA"].attractions


# ----------------------------------------------------------------------------- history events
DOMESTIC_ACTIONS = {"mining_quota", "separation_quota", "enforcement", "state_reserve"}


def domestic_events(name: str) -> list:
    return [e for e in abm.load_scenario(name).events if e.action in DOMESTIC_ACTIONS]


@pytest.mark.parametrize("name", ["quota_2010", "controls_2025"])
def test_history_domestic_events_have_ids_and_every_number_is_sourced(name):
    events = domestic_events(name)
    assert events
    for ev in events:
        assert ev.actor == "CHN" and ev.id and len(ev.detail) > 40
        numbers = {k for k, v in ev.args.items() if isinstance(v, int | float)
                   and not isinstance(v, bool)}
        if numbers:
            # a number is a fact with its source, derived with its derivation, or an assumption
            assert any(w in ev.detail for w in ("20", "derived", "assumption")), ev.id


def test_quota_2010_with_chinas_policy_at_home_raises_its_domestic_price():
    # the same history without China's mining quotas and enforcement (lifted by event edits)
    lifted = {f"event.{e.id}.tonnes_per_yr": 1e7 for e in domestic_events("quota_2010")
              if e.action == "mining_quota"}
    lifted |= {f"event.{e.id}.level": 0.0 for e in domestic_events("quota_2010")
               if e.action == "enforcement"}
    with_home = abm.simulate("quota_2010", steps=48, rng=0).set_index("date")
    without = abm.simulate("quota_2010", steps=48, rng=0, **lifted).set_index("date")
    years = [d for d in with_home.index if "2011-01" <= d <= "2012-12"]
    # the mechanism: quotas and enforcement take ore out of China's market ...
    mined = ["china_mined_recorded", "china_mined_illegal"]
    assert (with_home.loc[years, mined].sum(axis=1).mean()
            < without.loc[years, mined].sum(axis=1).mean())
    # ... so China's domestic price is higher, on average and in (nearly) every month
    higher = with_home.loc[years, "price_light_china"] > without.loc[years, "price_light_china"]
    assert (with_home.loc[years, "price_light_china"].mean()
            > without.loc[years, "price_light_china"].mean())
    assert higher.sum() >= len(years) - 2


def test_a_reserve_band_whose_ceiling_is_not_above_its_support_never_sells(tmp_path):
    world = domestic_world(tmp_path, chn_use=10_000,
                           params="reserve_support_ratio = 3.0\nreserve_ceiling_ratio = 2.0")
    m = abm.RareEarthModel(scenario=str(world), rng=0)
    m.play_strategy("CHN", "domestic", "reserve_support")
    band = m.states["CHN"].domestic.reserve_band["light"]
    assert band.support == pytest.approx(180.0) and band.ceiling == float("inf")
