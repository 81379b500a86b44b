"""Offtake contracts: price rules, deliveries, take-or-pay payments, expiry and signing."""

import pytest
from test_frictions import world_with_costs
from worlds import make_world

import abm
from abm.contracts import Contract, contract_price, taken_share
from abm.policy import PRODUCTS


@pytest.fixture
def world(tmp_path):
    return make_world(tmp_path, chn_cap=80_000, alt_cap=20_000, horizon=24)


def model_of(path, **kw):
    return abm.RareEarthModel(scenario=str(path), rng=0, **kw)


def sign(m, **args):
    base = {"miner": "ALT_MINE", "product": "light", "tonnes_per_month": 50.0, "months": 3}
    m.apply_action("JPN", "offtake_contract", base | args)
    return m.contracts.contracts[-1]


@pytest.mark.parametrize(("rule", "market", "expected"), [
    ("fixed", 60.0, 80.0), ("fixed", 200.0, 80.0), ("market", 63.0, 63.0),
    ("collar", 30.0, 50.0), ("collar", 70.0, 70.0), ("collar", 500.0, 90.0)])
def test_contract_price_rules(rule, market, expected):
    assert contract_price(rule, market, usd_per_kg=80.0, floor=50.0, ceiling=90.0) == expected


@pytest.mark.parametrize(("price", "buyer", "top", "share"), [
    (80.0, 60.0, 0.6, 0.6),   # dearer than the buyer's market: only the take-or-pay share
    (80.0, 80.0, 0.6, 1.0),   # no dearer: all of it
    (40.0, 60.0, 0.0, 1.0),
    (80.0, 60.0, 0.0, 0.0)])  # no take-or-pay: nothing taken when the market is cheaper
def test_the_buyer_takes_all_or_its_take_or_pay_share(price, buyer, top, share):
    assert taken_share(price, buyer, top) == share


def test_volumes_of_a_reo_contract_follow_the_miners_mix():
    c = Contract("X", "JPN", "reo", 100.0, 0, 12)
    assert c.volumes({"light": 0.2, "heavy": 0.01}) == pytest.approx(
        {"light": 20.0, "heavy": 1.0})
    # priced per kg REO: the value of its NdPr and Dy/Tb
    assert c.market_value({"light": 0.2, "heavy": 0.01}, {"light": 60, "heavy": 300}) == 15.0


def test_a_dear_fixed_price_delivers_the_take_or_pay_share_and_the_buyer_pays_it(world):
    m = model_of(world)
    c = sign(m, price_rule="fixed", usd_per_kg=80.0, take_or_pay=0.6)
    usa, jpn = m.cidx["USA"], m.cidx["JPN"]
    inv0 = m.firms.inventory_by_country("light")[jpn]
    jpn_price = float(m.exchange.price["light"][jpn])  # the month before: ~60 < 80
    assert jpn_price < 80.0
    m.step()
    supply = m.last_month.plan.supply
    # 0.6 x 50 t delivered outside the market: withheld at the seller's node (USA, where
    # the allied mine refines), arrived at Japan's firms
    assert supply.contracted["light"][usa] == pytest.approx(30.0)
    assert supply.arrivals["light"][jpn] == pytest.approx(30.0)
    assert supply.contracted["heavy"].sum() == 0.0
    assert c.delivered_t["light"] == pytest.approx(30.0)
    assert c.paid_usd == pytest.approx(30.0 * 80.0 * 1e3)  # t x US$/kg x 1000
    # Japan's term: what the oxide was worth at its market less what it paid (a loss);
    # the USA's: its refiners' contract revenue
    assert m.states["JPN"].payoff_parts["contracts"] == pytest.approx(
        30.0 * (jpn_price - 80.0) * 1e-3)
    assert m.states["USA"].payoff_parts["contracts"] == pytest.approx(30.0 * 80.0 * 1e-3)
    # Japan's firms hold what they held, plus what they bought and the 30 t delivered, less
    # what they consumed (Japan's state holds its stockpile: all purchases are the firms')
    bought = m.last_month.results["light"].purchases[jpn]
    used = m.firms.last_consumed["light"][jpn]
    assert m.firms.inventory_by_country("light")[jpn] == pytest.approx(
        inv0 + bought + 30.0 - used)


def test_a_cheap_fixed_price_delivers_all_of_it(world):
    m = model_of(world)
    c = sign(m, price_rule="fixed", usd_per_kg=40.0, take_or_pay=0.6)
    m.step()
    assert c.delivered_t["light"] == pytest.approx(50.0)
    assert c.paid_usd == pytest.approx(50.0 * 40.0 * 1e3)


def test_a_contract_delivers_for_its_months_then_ends(world):
    m = model_of(world)
    c = sign(m, price_rule="market", take_or_pay=1.0, months=3)
    for _ in range(5):
        m.step()
    assert c.delivered_t["light"] == pytest.approx(150.0)  # 3 months x 50 t
    assert not c.active(m.month)
    log = m.event_log_frame()
    ended = log[log["action"] == "contract_end"]
    assert list(ended["date"]) == ["2030-03"]
    assert m.last_month.plan.supply.contracted["light"].sum() == 0.0


def test_delivery_is_capped_by_what_the_miner_refines_at_home(world):
    m = model_of(world)
    c = sign(m, tonnes_per_month=1e6, take_or_pay=1.0)  # far beyond its output
    m.step()
    home = m.last_month.plan.supply.routes["ALT_MINE"][0]
    assert c.delivered_t["light"] == pytest.approx(home * 0.2)
    assert home > 0


def test_a_reo_contract_delivers_both_products_and_is_paid_per_kg_reo(world):
    m = model_of(world)
    c = sign(m, product="reo", tonnes_per_month=100.0, price_rule="fixed", usd_per_kg=10.0,
             take_or_pay=1.0)
    m.step()
    # 10 US$/kg REO is below the ~15 US$/kg the REO's NdPr and Dy/Tb fetch: all of it
    assert c.delivered_t == pytest.approx({"light": 20.0, "heavy": 1.0})
    assert c.paid_usd == pytest.approx(100.0 * 10.0 * 1e3)


def test_an_export_ban_suspends_deliveries_across_the_border(world):
    m = model_of(world)
    c = sign(m, take_or_pay=1.0)
    m.apply_action("USA", "export", {"instrument": "ban", "target": "JPN", "product": "both"})
    m.step()
    assert c.delivered_t["light"] == 0.0 and c.paid_usd == 0.0


def test_deliveries_keep_the_mass_balance_in_every_month(world):
    m = model_of(world)
    sign(m, product="reo", tonnes_per_month=400.0, months=12, take_or_pay=1.0)
    for _ in range(12):
        m.step()  # the model checks production = consumption + stock change each month
    df = m.results_frame()
    for p in PRODUCTS:
        held = (df[f"inventory_{p}"] + df[f"producer_stock_{p}"] + df[f"stockpiles_{p}"]
                + df[f"trader_stock_{p}"] + df[f"maker_stock_{p}"])
        bal = df[f"production_{p}"] - df[f"consumption_{p}"] - held.diff()
        assert bal.iloc[1:].abs().max() <= 1e-6 * max(held.max(), 1.0)


def test_a_contract_lifts_the_miners_revenue_per_kg(world):
    # capacity C t REO/month, 20% NdPr, 1% Dy/Tb; 100 t NdPr at a fixed 100 US$/kg above the
    # buyer's market (take-or-pay 1: all of it), the rest at 60 and 300 US$/kg:
    # ((0.2 C - 100) x 60 + 0.01 C x 300 + 100 x 100) / C
    m = model_of(world)
    alt = m.miner("ALT_MINE")
    cap = alt.capacity_tpm
    prices, floors = {"light": 60.0, "heavy": 300.0}, dict.fromkeys(PRODUCTS, 0.0)
    assert m.contracts.miner_revenue(m, alt, prices, floors) is None
    sign(m, tonnes_per_month=100.0, price_rule="fixed", usd_per_kg=100.0, take_or_pay=1.0)
    expected = ((0.2 * cap - 100.0) * 60.0 + 0.01 * cap * 300.0 + 100.0 * 100.0) / cap
    assert m.contracts.miner_revenue(m, alt, prices, floors) == pytest.approx(expected)


def test_an_insecure_importer_signs_a_collar_the_miner_accepts(world):
    m = model_of(world)
    m.step()
    jpn = m.states["JPN"]
    m.risk[jpn.index] = 0.9
    c = m.contracts.seek(m, jpn)
    sc = m.sc
    now = float(m.exchange.seller_price["light"][m.cidx["USA"]])
    assert c is not None and c.miner == "ALT_MINE" and c.buyer == "JPN"
    assert c.rule == "collar" and c.take_or_pay == sc.offtake_take_or_pay
    assert c.floor == pytest.approx(now * (1 - sc.offtake_collar_share))
    assert c.ceiling == pytest.approx(now * (1 + sc.offtake_collar_share))
    assert c.tonnes_per_month == pytest.approx(sc.offtake_use_share * 5000 / 12)
    assert m.contracts.seek(m, jpn) is None  # one contract at a time
    m.risk[m.cidx["USA"]] = 0.1  # below the threshold: the USA does not seek one
    assert m.contracts.seek(m, m.states["USA"]) is None


def test_a_miner_declines_a_collar_whose_floor_does_not_cover_its_cost(tmp_path):
    m = model_of(world_with_costs(tmp_path, chn_cap=80_000, alt_cap=20_000, alt_cost=14.0,
                                  horizon=6))
    m.step()
    m.risk[m.cidx["JPN"]] = 0.9
    # floor ~0.8 x 60 x 0.2 + 0.01 x 300 = ~12.6 US$/kg REO < 14: declined
    assert m.contracts.seek(m, m.states["JPN"]) is None
