"""What is known about each model besides its price: facts (context window, modalities) and quality scores.

The simulator ranks candidates with them; the price sync publishes them for dashboards.
"""
