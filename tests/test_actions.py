"""Every policy action handler, floor payments, strategy recognition and overrides."""

import numpy as np
import pytest
from worlds import make_world

import abm
from abm.actions import ACTIONS
from abm.policy import ExportPolicy
from abm.strategies import STRATEGIES, recognise, strategy_names


@pytest.fixture
def world(tmp_path):
    return make_world(tmp_path, chn_cap=80_000, alt_cap=20_000, horizon=24)


def model_of(path, **kw):
    return abm.RareEarthModel(scenario=str(path), rng=0, **kw)


def test_every_registered_action_has_a_test():
    here = {"export", "export_duty", "stockpile", "alliance", "leave_alliance", "price_floor",
            "co_invest", "offtake", "china_route", "free"}
    # China at home and contracts are tested in test_china_domestic.py and test_contracts.py
    elsewhere = {"mining_quota", "separation_quota", "enforcement", "state_reserve",
                 "offtake_contract"}
    assert set(ACTIONS) == here | elsewhere


def test_export_duty_is_charged_on_recorded_exports_and_collected_by_the_exporter(world):
    m = model_of(world)
    m.step()
    m.apply_action("CHN", "export_duty", {"product": "light", "rate": 0.25})
    assert m.regime.duty("CHN", "light") == 0.25 and m.regime.duty("CHN", "heavy") == 0.0
    chn, usa = m.cidx["CHN"], m.cidx["USA"]
    seller = m.exchange.seller_price["light"][chn]
    m.step()
    # the duty per kg is 25% of China's seller price of the month before, on foreign links
    book = m.last_orders["light"][1]
    assert book.duty[chn, usa] == pytest.approx(0.25 * seller, rel=1e-12)
    assert book.duty[chn, chn] == 0.0 and book.duty[usa, chn] == 0.0
    flows = m.last_flows["light"].to_numpy()
    shipped = flows[chn].sum() - flows[chn, chn]
    assert m.states["CHN"].payoff_parts["duties"] == pytest.approx(
        shipped * 0.25 * seller * 1e-3, rel=1e-9)
    m.apply_action("CHN", "export_duty", {"product": "light", "rate": 0.0})
    assert m.regime.duty("CHN", "light") == 0.0


def test_export_sets_policies_with_precedence_and_keeps_the_start_of_a_regime(world):
    m = model_of(world)
    m.step()
    m.apply_action("CHN", "export", {"instrument": "licence", "target": "USA",
                                     "product": "light"}, pin=True)
    pol = m.regime.get("CHN", "USA", "light")
    assert pol.instrument == "licence" and pol.share == m.sc.licence_share  # default share
    assert pol.since_step == 1 and "export" in m.states["CHN"].pinned
    m.step()
    m.apply_action("CHN", "export", {"instrument": "licence", "share": 0.3, "target": "USA",
                                     "product": "light"})
    assert m.regime.get("CHN", "USA", "light").since_step == 1  # the regime goes on
    assert m.regime.get("CHN", "USA", "light").share == 0.3
    # a policy toward all replaces the target-specific one on that product only
    m.apply_action("CHN", "export", {"instrument": "ban", "target": "USA", "product": "heavy"})
    m.apply_action("CHN", "export", {"instrument": "quota", "tonnes_per_yr": 1200.0,
                                     "product": "light"})
    assert m.regime.get("CHN", "USA", "light") is None
    assert m.regime.get("CHN", "USA", "heavy").instrument == "ban"
    cap, export_cap = m.link_caps("light")
    chn = m.cidx["CHN"]
    # 1,200 t REO/yr = 100 t REO/month x 0.2 t NdPr per t REO refined in China
    assert export_cap[chn] == pytest.approx(100.0 * m.export_mix(chn, "light"))
    assert m.export_mix(chn, "light") == pytest.approx(0.2)
    cap_h, _ = m.link_caps("heavy")
    assert cap_h[chn, m.cidx["USA"]] == 0.0 and np.isinf(cap_h[chn, m.cidx["JPN"]])


@pytest.mark.parametrize("args, needle", [
    ({"instrument": "quota"}, "a quota needs tonnes_per_yr"),
    ({"instrument": "licence", "share": 1.5}, "share"),
    ({"instrument": "licence", "share": "half"}, "share"),
    ({"instrument": "quota", "tonnes_per_yr": float("nan")}, "finite"),
    ({"instrument": "embargo"}, "instrument"),
    ({"instrument": "ban", "product": "magnets"}, "product"),
    ({"instrument": "ban", "colour": "red"}, "unknown keys"),
])
def test_bad_export_arguments_are_one_clear_error(world, args, needle):
    m = model_of(world)
    with pytest.raises(abm.InputError, match=needle):
        m.apply_action("CHN", "export", args)


def test_licence_caps_ramp_up_over_the_delay(world):
    m = model_of(world, licence_delay_months=2)
    m.step()
    normal = m.exchange.normal_flow["light"][m.cidx["CHN"], m.cidx["USA"]]
    m.apply_action("CHN", "export", {"instrument": "licence", "share": 0.6, "target": "USA"})
    caps = []
    for _ in range(4):
        caps.append(m.link_caps("light")[0][m.cidx["CHN"], m.cidx["USA"]])
        m.month += 1  # only the clock matters for the cap (normal flow is frozen here)
    # (months since start + 1) / (delay + 1): 1/3, 2/3, then the full 60%
    np.testing.assert_allclose(caps, [0.6 * normal / 3, 0.6 * normal * 2 / 3,
                                      0.6 * normal, 0.6 * normal])


def test_stockpile_alliance_and_leaving(world):
    m = model_of(world)
    m.apply_action("USA", "stockpile", {"mode": "build", "product": "heavy"})
    assert m.states["USA"].stockpile_mode == {"light": "hold", "heavy": "build"}
    m.apply_action("USA", "alliance", {"bloc": "Pact", "member": "JPN"}, pin=True)
    assert m.states["USA"].bloc == m.states["JPN"].bloc == "Pact"
    assert m.alliance_graph.has_edge("USA", "JPN")
    assert "alliance" in m.states["USA"].pinned and "alliance" not in m.states["JPN"].pinned
    m.apply_action("JPN", "leave_alliance", {})
    assert m.states["JPN"].bloc == "" and not m.alliance_graph.has_edge("USA", "JPN")
    assert m.states["USA"].bloc == "Pact"
    with pytest.raises(abm.InputError, match="unknown state"):
        m.apply_action("USA", "alliance", {"bloc": "Pact", "member": "ATLANTIS"})


def test_price_floor_named_and_allied_miners(world):
    m = model_of(world)
    m.apply_action("USA", "price_floor", {"usd_per_kg": 90.0, "miners": ["ALT_MINE"],
                                          "upside_share": 0.25})
    alt = m.miner("ALT_MINE")
    assert alt.floor_usd_per_kg == {"light": 90.0, "heavy": 0.0}
    assert alt.floor_payer == "USA" and alt.floor_upside_share == 0.25
    assert m.floor_offers() == {"USA": 90.0}
    # "allied": miners tied to the payer; China's own mine is tied to China, not the USA
    m.apply_action("CHN", "price_floor", {"usd_per_kg": 70.0, "product": "both"})
    chn = m.miner("CHN_MINE")
    assert chn.floor_usd_per_kg == {"light": 70.0, "heavy": 70.0} and chn.floor_payer == "CHN"
    assert alt.floor_payer == "USA"


def test_floor_payment_by_hand():
    # 100 t REO refined at home x 0.2 NdPr = 20 t; floor 110, price 60: the payer owes
    # 50 US$/kg x 20 t = 1,000,000 US$; at 150 it takes 30% of 40 US$/kg x 20 t = 240,000
    m = abm.RareEarthModel(scenario="baseline", rng=0, n_firms=10)
    miner = m.miner("MTPASS")
    miner.shares = {"light": 0.2, "heavy": 0.0}
    miner.routed = {"USA": 100.0, "CHN": 7.0}
    assert miner.floor_payment("light", 60.0) == 0.0  # no floor yet
    miner.grant_floor(("light",), 110.0, "USA", 0.3)
    assert miner.floor_payment("light", 60.0) == pytest.approx(1_000_000.0)
    assert miner.floor_payment("light", 150.0) == pytest.approx(-240_000.0)
    assert miner.floor_payment("heavy", 1.0) == 0.0


def test_floor_payments_reach_the_payer_each_month(tmp_path):
    events = ('[[events]]\ndate = "2030-01"\nactor = "USA"\naction = "price_floor"\n'
              'usd_per_kg = 500.0\nminers = ["ALT_MINE"]\n')
    m = model_of(make_world(tmp_path, chn_cap=80_000, alt_cap=20_000, events=events,
                            horizon=6))
    usa = m.states["USA"]
    alt = m.miner("ALT_MINE")
    for _ in range(4):
        before = usa.floor_cost_usd
        m.step()
        price = m.exchange.seller_price["light"][m.cidx["USA"]]
        owed = (500.0 - price) * alt.routed["USA"] * 0.2 * 1000.0  # floor far above price
        assert usa.floor_cost_usd - before == pytest.approx(owed)
        # the payer's payoff term is the month's payment, in US$ million
        assert usa.payoff_parts["floor"] == pytest.approx(-owed * 1e-6)


def test_co_invest_adds_refining_capacity_after_its_lead_time(world):
    # 1,200 t/yr = 100 t/month, ramping up over 4 months: 25, 50, 75, 100 t/month
    m = model_of(world, refining_ramp_up_months=4)
    before = m.refining.tpm[m.cidx["JPN"]]
    m.apply_action("USA", "co_invest", {"country": "JPN", "tonnes_reo_per_yr": 1200.0,
                                        "lead_months": 3, "kind": "separation"})
    for _ in range(4):  # ready at step 3: online when that month ends
        assert m.refining.tpm[m.cidx["JPN"]] == before
        m.step()
    for share in (0.25, 0.5, 0.75, 1.0, 1.0):
        assert m.refining.tpm[m.cidx["JPN"]] == pytest.approx(before + 100.0 * share)
        m.step()
    log = m.event_log_frame()
    online = log[log["action"] == "capacity_online"]
    assert len(online) == 1 and online.iloc[0]["date"] == "2030-04"
    with pytest.raises(abm.InputError, match="unknown country"):
        m.apply_action("USA", "co_invest", {"country": "XXX", "tonnes_reo_per_yr": 1.0})


def test_offtake_and_china_route(world):
    m = model_of(world)
    m.apply_action("USA", "offtake", {"miner": "ALT_MINE", "bloc": "JPN"})
    assert m.miner("ALT_MINE").bloc == "JPN" and m.alliance_graph.has_edge("ALT_MINE", "JPN")
    m.apply_action("USA", "offtake", {"miner": "ALT_MINE"})  # default: the actor
    assert not m.alliance_graph.has_edge("ALT_MINE", "JPN")
    assert m.alliance_graph.has_edge("ALT_MINE", "USA")
    m.apply_action("ALT_MINE", "china_route", {"miner": "ALT_MINE", "allowed": False})
    assert m.miner("ALT_MINE").china_route is False
    with pytest.raises(abm.InputError, match="unknown miner"):
        m.apply_action("USA", "offtake", {"miner": "NOPE"})


def test_mining_and_separation_quotas_and_enforcement(world):
    m = model_of(world)
    d = m.states["CHN"].domestic
    m.apply_action("CHN", "mining_quota", {"tonnes_per_yr": 93800.0,
                                           "light_tonnes_per_yr": 80400.0,
                                           "ionic_tonnes_per_yr": 13400.0}, pin=True)
    assert (d.mining_quota_tpy, d.light_quota_tpy, d.ionic_quota_tpy) == (93800, 80400, 13400)
    assert "domestic" in m.states["CHN"].pinned
    m.apply_action("CHN", "mining_quota", {"tonnes_per_yr": 50000.0})  # replaces the split
    assert (d.mining_quota_tpy, d.light_quota_tpy, d.ionic_quota_tpy) == (50000, None, None)
    m.apply_action("CHN", "separation_quota", {"tonnes_per_yr": 40000.0})
    m.apply_action("CHN", "enforcement", {"level": 0.3})
    assert d.separation_quota_tpy == 40000 and d.enforcement == 0.3
    m.apply_action("CHN", "mining_quota", {"lift": True})
    m.apply_action("CHN", "separation_quota", {"lift": True})
    assert not d.has_quota
    log = m.event_log_frame()
    assert "China: mining quota 93,800 t REO/yr (80,400 light, 13,400 ionic clay)" in set(
        log["detail"])


@pytest.mark.parametrize(("action", "args", "needle"), [
    ("mining_quota", {}, "needs tonnes_per_yr"),
    ("mining_quota", {"tonnes_per_yr": 1.0, "lift": True}, "not both"),
    ("mining_quota", {"tonnes_per_yr": -1.0}, "outside"),
    ("separation_quota", {}, "needs tonnes_per_yr"),
    ("enforcement", {"level": 1.5}, "outside"),
    ("enforcement", {}, "needs level"),
    ("state_reserve", {"mode": "band"}, "support_usd_per_kg or support_market_ratio"),
    ("state_reserve", {"mode": "band", "support_usd_per_kg": 50.0,
                       "support_market_ratio": 1.0}, "one of them"),
    ("state_reserve", {"mode": "band", "support_usd_per_kg": 50.0,
                       "ceiling_usd_per_kg": 40.0}, "above the support"),
    ("state_reserve", {"mode": "sometimes"}, "must be one of"),
    ("offtake_contract", {"miner": "ALT_MINE", "tonnes_per_month": 1.0, "months": 12,
                          "price_rule": "fixed"}, "needs usd_per_kg"),
    ("offtake_contract", {"miner": "ALT_MINE", "tonnes_per_month": 1.0, "months": 12,
                          "price_rule": "collar", "floor_usd_per_kg": 50.0},
     "floor_usd_per_kg and ceiling_usd_per_kg"),
    ("offtake_contract", {"miner": "ALT_MINE", "tonnes_per_month": 1.0, "months": 12,
                          "price_rule": "collar", "floor_usd_per_kg": 90.0,
                          "ceiling_usd_per_kg": 50.0}, "floor lies above"),
    ("offtake_contract", {"miner": "NOPE", "tonnes_per_month": 1.0, "months": 12},
     "unknown miner"),
    ("offtake_contract", {"miner": "ALT_MINE", "tonnes_per_month": 1.0, "months": 0},
     "outside"),
])
def test_bad_domestic_and_contract_arguments_are_one_clear_error(world, action, args, needle):
    m = model_of(world)
    with pytest.raises(abm.InputError, match=needle) as err:
        m.apply_action("JPN" if action == "offtake_contract" else "CHN", action, args)
    assert "\n" not in str(err.value)


def test_state_reserve_band_and_off(world):
    m = model_of(world)
    m.step()
    chn = m.states["CHN"]
    price = float(m.exchange.price["heavy"][chn.index])
    m.apply_action("CHN", "state_reserve", {"mode": "band", "product": "heavy",
                                            "support_market_ratio": 1.05, "tonnes": 500.0})
    band = chn.domestic.reserve_band["heavy"]
    assert band.support == pytest.approx(1.05 * price) and band.ceiling == float("inf")
    assert band.target_t == pytest.approx(chn.stockpile["heavy"] + 500.0)
    assert band.buy_tpm == pytest.approx(m.sc.reserve_buy_share * 600 / 12)
    assert "light" not in chn.domestic.reserve_band
    # a band replaces the stockpile mode for its product: it bids at the support
    chn.set_stockpile_mode(("heavy",), "release")
    assert chn.bids("heavy") == [(chn.index, pytest.approx(band.buy_tpm), band.support)]
    assert chn.offers("heavy") == []  # no ceiling: never sells
    m.apply_action("CHN", "state_reserve", {"mode": "off"})
    assert not chn.domestic.reserve_band


def test_offtake_contract_signs_a_contract_from_this_month(world):
    m = model_of(world)
    m.step()
    m.apply_action("JPN", "offtake_contract", {
        "miner": "ALT_MINE", "product": "reo", "tonnes_per_month": 700.0, "months": 120,
        "price_rule": "collar", "floor_usd_per_kg": 10.0, "ceiling_usd_per_kg": 20.0})
    c = m.contracts.contracts[-1]
    assert (c.miner, c.buyer, c.product, c.start, c.end) == ("ALT_MINE", "JPN", "reo", 1, 121)
    assert (c.floor, c.ceiling, c.take_or_pay) == (10.0, 20.0, m.sc.offtake_take_or_pay)
    log = m.event_log_frame()
    assert log.iloc[-1]["action"] == "offtake_contract"


def test_a_contract_for_a_product_the_buyer_does_not_use_is_refused(tmp_path):
    world = make_world(tmp_path, chn_cap=80_000, alt_cap=20_000, horizon=6)
    states = tmp_path / "data" / "states.csv"
    states.write_text(states.read_text().replace("2030,JPN,Japan,true,5000,200",
                                                 "2030,JPN,Japan,true,5000,0"))
    m = model_of(world)
    with pytest.raises(abm.InputError, match="firms use no heavy"):
        m.apply_action("JPN", "offtake_contract", {"miner": "ALT_MINE", "product": "reo",
                                                   "tonnes_per_month": 1.0, "months": 6})


def test_free_releases_scripted_domains_but_not_fixed_ones(world):
    m = model_of(world, **{"strategy.USA.stockpile": "build"})
    m.step()
    m.apply_action("USA", "export", {"instrument": "ban"}, pin=True)
    assert m.states["USA"].pinned == {"export", "stockpile"}
    m.apply_action("USA", "free", {})
    assert m.states["USA"].pinned == {"stockpile"}
    with pytest.raises(abm.InputError, match="unknown actor"):
        m.apply_action("NOBODY", "free", {})


def test_unknown_actors_in_a_scenario_fail_before_the_first_month(tmp_path):
    events = ('[[events]]\ndate = "2031-01"\nactor = "CHN"\naction = "export"\n'
              'instrument = "ban"\ntarget = "XX"\n')
    path = make_world(tmp_path, chn_cap=80_000, alt_cap=20_000, events=events)
    with pytest.raises(abm.InputError, match="unknown state 'XX'"):
        model_of(path)


def test_each_export_strategy_is_recognised_after_it_is_enacted(world):
    m = model_of(world)
    for _ in range(2):
        m.step()
    chn = m.states["CHN"]
    for name in strategy_names("export"):
        chn.enact("export", name, source="test")
        assert recognise(m, chn, "export") == name
    for name in strategy_names("stockpile"):
        chn.enact("stockpile", name, source="test")
        assert recognise(m, chn, "stockpile") == name
    # the quota strategy allows quota_strategy_share of each link's normal flow (in t REO)
    chn.enact("export", "quota", source="test")
    usa = m.cidx["USA"]
    cap, _ = m.link_caps("light")
    normal = m.exchange.normal_flow["light"][m.cidx["CHN"], usa]
    assert cap[m.cidx["CHN"], usa] == pytest.approx(0.6 * normal)


def test_mixed_policies_are_recognised_by_their_strongest_instrument(world):
    m = model_of(world)
    chn = m.states["CHN"]
    m.regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.5))
    assert recognise(m, chn, "export") == "licence"
    m.regime.set("CHN", "JPN", "heavy", ExportPolicy("quota", tonnes_per_yr=10.0))
    assert recognise(m, chn, "export") == "quota"
    m.regime.set("CHN", "JPN", "light", ExportPolicy("ban"))
    assert recognise(m, chn, "export") == "ban"
    m.regime.clear("CHN")
    m.regime.set("CHN", "all", "heavy", ExportPolicy("licence", 0.8))
    assert recognise(m, chn, "export") == "licence_heavy"


def test_strategy_registry_names_are_unique_per_domain():
    names = [s.name for s in STRATEGIES.values()]
    assert len(names) == len(set(names))
    assert strategy_names("stockpile") == ("build", "hold", "release")
