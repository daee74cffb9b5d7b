"""Mesa agents: they decide; the protocol, the AMMs and the issuers move the money."""

from agents.arbitrageur import Arbitrageur
from agents.liquidity_provider import LiquidityProvider
from agents.market_maker import MarketMaker
from agents.trader import DirectionalTrader

__all__ = ["Arbitrageur", "DirectionalTrader", "LiquidityProvider", "MarketMaker"]
