"""Price data's life in the database: stored versions, the daily sync and its job, the timeline of prices,
re-pricing stored usage and reconciling provider-reported costs. The pure engine is ``pricing``.
"""
