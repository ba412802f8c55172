-- The span attributes that chose a price beyond the model and tokens (service tier, batch processing), so that
-- `otel-margin prices reprice` prices a flex or batch call as such again. Only those keys are stored (the
-- writer picks them), and only on the calls that carry them: NULL for everything else.
ALTER TABLE usage_events ADD COLUMN attributes jsonb;

COMMENT ON COLUMN usage_events.attributes IS
    'Price-context span attributes (service tier, processing) of the call, or NULL when it had none.';
