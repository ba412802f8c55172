-- A read-only role for dashboards (Grafana). Its name comes from the otel_margin.reader_role
-- setting the migrator passes in; its password is set by otel_margin_set_reader_password()
-- after every migrate, so rotating it in config needs no new migration.
DO $$
DECLARE
    r text := current_setting('otel_margin.reader_role');
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', r);
    -- Tables and views of later migrations are readable too.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I', r);
END
$$;

-- NULL password: the role exists but cannot log in.
CREATE FUNCTION otel_margin_set_reader_password(role_name text, password text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF password IS NULL THEN
        EXECUTE format('ALTER ROLE %I NOLOGIN PASSWORD NULL', role_name);
    ELSE
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', role_name, password);
    END IF;
END
$$;
