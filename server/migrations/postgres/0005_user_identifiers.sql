-- One table of the identifiers a login_hint can name (subject, username, email, phone), so that
-- a hint resolves to at most one user by construction: a value is the identifier of one user, of
-- whatever kind (a username can no longer be another user's email).
CREATE TABLE user_identifiers (
    value    TEXT PRIMARY KEY,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL
);
CREATE INDEX user_identifiers_by_user ON user_identifiers (user_id);

-- The identifiers of existing users. A value that two users shared across kinds (one's username,
-- another's email) is kept as 'ambiguous': a login hint never resolves it (an ambiguous hint
-- never picks one), and no new user can take it either.
INSERT INTO user_identifiers (value, user_id, kind)
SELECT value, MIN(user_id),
       CASE WHEN COUNT(DISTINCT user_id) = 1 THEN MIN(kind) ELSE 'ambiguous' END
FROM (
    SELECT subject AS value, id AS user_id, 'subject' AS kind FROM users
    UNION ALL SELECT username, id, 'username' FROM users
    UNION ALL SELECT email, id, 'email' FROM users WHERE email IS NOT NULL
    UNION ALL SELECT phone, id, 'phone' FROM users WHERE phone IS NOT NULL
) AS identifiers
GROUP BY value;
