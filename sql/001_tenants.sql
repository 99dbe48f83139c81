-- Tenants and their API keys, plus the updated_at trigger every later table uses.

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TABLE tenants (
    -- The tenant_id is the public name (e.g. 'tenant-123'); it appears in model ids,
    -- so it is restricted to characters that survive a URL and a file name.
    tenant_id   text PRIMARY KEY
                CHECK (tenant_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE api_keys (
    key_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL tenant_id only for admin keys, which may act for any tenant.
    tenant_id   text REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    is_admin    boolean NOT NULL DEFAULT false,
    -- Keys carry 256 random bits, so a plain SHA-256 is enough: there is nothing
    -- to brute-force, and lookup stays one indexed equality.
    key_hash    text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    -- First characters of the key, shown in listings so a person can tell keys apart.
    key_prefix  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_owner CHECK (is_admin OR tenant_id IS NOT NULL)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
