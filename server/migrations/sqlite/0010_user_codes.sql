-- The user's own code (CIBA Core §7.1 user_code), only as an Argon2id hash (PHC string), and the
-- wrong codes presented in a row (the user is locked at ciba.user_code_max_failures).
ALTER TABLE users ADD COLUMN user_code_hash TEXT;
ALTER TABLE users ADD COLUMN user_code_failures BIGINT NOT NULL DEFAULT 0;
