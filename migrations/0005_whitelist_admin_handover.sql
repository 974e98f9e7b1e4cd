-- A whitelist's admin changes hands in two steps: the proposed admin is
-- kept until it accepts.
ALTER TABLE whitelists ADD COLUMN pending_admin text;
