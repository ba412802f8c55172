-- Use TimescaleDB where the server can load it; plain PostgreSQL (14+) runs the same schema.
-- CREATE EXTENSION fails unless the library is preloaded, so only try when it is.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb')
       AND EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries', true) LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END
$$;
