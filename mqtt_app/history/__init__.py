"""Long-range history: rollups of numeric readings (rollup.py) and the series answered from them (series.py)."""
