"""Asset names that every layer shares (the one place they are spelled)."""

USDC = "USDC"   # the stable coin, USD 1 each: AMMs' quote asset and the USDC-margined market's margin
