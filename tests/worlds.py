"""Small constructed worlds for testing strategic behaviour (written to a temp folder)."""

from pathlib import Path

STATES = """year,code,name,player,consumption_light_tpy,consumption_heavy_tpy,stockpile_light_t,stockpile_heavy_t,source
2030,CHN,China,true,{chn_use},600,0,0,test world
2030,USA,United States,true,{usa_use},200,0,0,test world
2030,JPN,Japan,true,{jpn_use},200,0,0,test world
"""
MINES = """year,id,name,country,capacity_t_reo_per_yr,project_capacity_t_reo_per_yr,project_lead_months,cost_usd_per_kg_reo,light_share,heavy_share,refine_country,bloc,source
2030,CHN_MINE,China mine,CHN,{chn_cap},0,0,4.0,0.2,0.01,CHN,CHN,test world
2030,ALT_MINE,Allied mine,AUS,{alt_cap},0,0,6.0,0.2,0.01,USA,none,test world
"""
REFINING = """year,country,capacity_t_reo_per_yr,source
2030,CHN,10000000,test world
2030,USA,{alt_ref},test world
"""
PRICES = """year,product,reference_price_usd_per_kg,low_usd_per_kg,high_usd_per_kg,source
2030,light,60,50,70,test world
2030,heavy,300,250,350,test world
"""
LINKS = "seller,buyer,cost_frac,source\n"


def make_world(folder: Path, *, chn_cap: float, alt_cap: float, chn_use: float = 10000,
               usa_use: float = 5000, jpn_use: float = 5000, params: str = "",
               events: str = "", horizon: int = 36) -> Path:
    """Write a three-state world (China, USA, Japan) and a scenario file; return its path.

    Capacities in t REO/yr (20% NdPr, 1% Dy/Tb); uses in t NdPr/yr.
    """
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "states.csv").write_text(STATES.format(chn_use=chn_use, usa_use=usa_use,
                                                   jpn_use=jpn_use))
    (data / "mines.csv").write_text(MINES.format(chn_cap=chn_cap, alt_cap=alt_cap))
    (data / "refining.csv").write_text(REFINING.format(alt_ref=alt_cap))
    (data / "prices.csv").write_text(PRICES)
    (data / "links.csv").write_text(LINKS)
    scenario = folder / "world.toml"
    scenario.write_text(
        f'start = "2030-01"\nhorizon_months = {horizon}\ndata_year = 2030\n'
        f'data_dir = "data"\n[params]\nn_firms = 30\n{params}\n{events}')
    return scenario
