//! Where settings come from: the defaults, then the TOML file, then the environment, so that a
//! container needs no file (README "Configuration").
//!
//! The naming rule: `CIBA_` then the setting's path in the TOML file, upper case, with `__`
//! between levels — `listen` is `CIBA_LISTEN`, `[push.fcm] project_id` is
//! `CIBA_PUSH__FCM__PROJECT_ID`, `[http] max_connections` is `CIBA_HTTP__MAX_CONNECTIONS`. A value
//! is read as the setting's type: text as is, numbers and booleans parsed, lists and tables as
//! TOML (`CIBA_ATTESTATION__APPLE__APPS='["TEAMID.com.bank.app"]'`). Any text setting can instead
//! come from a file: `CIBA_<NAME>_FILE=/run/secrets/…` reads the file (one trailing newline
//! dropped) — for the admin token, the database URL and other secrets. A `CIBA_` variable that
//! names no setting is reported as a warning, never silently used.

use std::path::Path;

use serde_json::Value as Json;

use super::{ConfigError, Settings};

/// Variables with the prefix that are not settings: the file's path, the development switch of
/// the binary, and the test suite's PostgreSQL server.
const NOT_SETTINGS: [&str; 3] = [
    "CIBA_CONFIG",
    "CIBA_DEV_LOCAL_NOTIFICATIONS",
    "CIBA_TEST_POSTGRES_URL",
];

/// Settings read from every source, and what was ignored.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// Unknown `CIBA_` variables.
    pub warnings: Vec<String>,
}

/// Every setting with a value of its type (options filled in), to know the names and types the
/// environment may set.
fn schema() -> Json {
    let mut s = Settings {
        issuer: Some(String::new()),
        admin_token: Some(String::new()),
        ..Settings::default()
    };
    s.push.fcm = Some(super::FcmSettings {
        project_id: String::new(),
        service_account_file: Default::default(),
        base_url: String::new(),
    });
    s.push.apns = Some(super::ApnsSettings {
        team_id: String::new(),
        key_id: String::new(),
        key_file: Default::default(),
        topic: String::new(),
        production_base_url: String::new(),
        sandbox_base_url: String::new(),
    });
    s.attestation.android.roots_file = Some(Default::default());
    s.attestation.android.revocation_list_file = Some(Default::default());
    s.attestation.apple.roots_file = Some(Default::default());
    serde_json::to_value(&s).unwrap_or(Json::Null)
}

fn lookup<'a>(schema: &'a Json, path: &[String]) -> Option<&'a Json> {
    path.iter()
        .try_fold(schema, |node, key| node.as_object()?.get(key.as_str()))
}

/// The TOML value of `raw` for a setting whose example value is `example`.
fn typed(var: &str, raw: &str, example: &Json) -> Result<toml::Value, ConfigError> {
    let bad = |what: &str| {
        ConfigError::Invalid(format!(
            "{var}: {raw:?} is not {what} (see README \"Configuration\")"
        ))
    };
    Ok(match example {
        Json::String(_) => toml::Value::String(raw.to_owned()),
        Json::Bool(_) => match raw.trim() {
            "true" | "1" => toml::Value::Boolean(true),
            "false" | "0" => toml::Value::Boolean(false),
            _ => return Err(bad("a boolean (true or false)")),
        },
        Json::Number(n) if n.is_f64() => {
            toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?)
        }
        Json::Number(_) => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Json::Array(_) | Json::Object(_) | Json::Null => {
            let table: toml::Table = toml::from_str(&format!("v = {raw}"))
                .map_err(|_| bad("a TOML value (a list is written [\"a\", \"b\"])"))?;
            table.get("v").cloned().ok_or_else(|| bad("a TOML value"))?
        }
    })
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = table;
    for key in parents {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        node = next;
    }
    node.insert(last.clone(), value);
}

fn deserialize(table: toml::Table, origin: &str) -> Result<Settings, ConfigError> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: origin.into(),
            message: e.message().to_owned(),
        })
}

/// Reads the settings: defaults, then `file` (TOML), then the `CIBA_` variables of `env`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.into(),
                source,
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.into(),
                message: e.to_string(),
            })?;
            // Unknown keys and bad values in the file are reported against the file.
            deserialize(table.clone(), &path.display().to_string())?;
            table
        }
        None => toml::Table::new(),
    };
    let schema = schema();
    let mut warnings = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("CIBA_") && !NOT_SETTINGS.contains(&k.as_str()))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let path: Vec<String> = var["CIBA_".len()..]
            .to_ascii_lowercase()
            .split("__")
            .map(str::to_owned)
            .collect();
        let (example, value) = match lookup(&schema, &path) {
            Some(example) => (example, raw),
            None => {
                // CIBA_<NAME>_FILE: a text setting read from a file.
                let mut stripped = path.clone();
                let target = stripped
                    .last_mut()
                    .and_then(|last| last.strip_suffix("_file").map(str::to_owned));
                if let (Some(name), Some(last)) = (target, stripped.last_mut()) {
                    *last = name;
                }
                match lookup(&schema, &stripped) {
                    Some(example @ Json::String(_)) if var.ends_with("_FILE") => {
                        let text = std::fs::read_to_string(&raw).map_err(|e| {
                            ConfigError::Invalid(format!("{var}: cannot read {raw}: {e}"))
                        })?;
                        let text = text
                            .strip_suffix("\r\n")
                            .or_else(|| text.strip_suffix('\n'))
                            .unwrap_or(&text)
                            .to_owned();
                        let value = typed(&var, &text, example)?;
                        insert(&mut table, &stripped, value);
                        continue;
                    }
                    _ => {
                        warnings.push(format!(
                            "{var} names no setting and is ignored (settings are CIBA_ + their \
                             path in the TOML file with __ between levels, e.g. \
                             CIBA_PUSH__FCM__PROJECT_ID)"
                        ));
                        continue;
                    }
                }
            }
        };
        let value = typed(&var, &value, example)?;
        // Each variable is checked alone, so a bad value is named (a table it starts may still
        // miss fields other variables or the file give).
        let mut alone = toml::Table::new();
        insert(&mut alone, &path, value.clone());
        if let Err(ConfigError::Parse { message, .. }) = deserialize(alone, &var)
            && !message.starts_with("missing field")
        {
            return Err(ConfigError::Invalid(format!("{var}: {message}")));
        }
        insert(&mut table, &path, value);
    }
    // The embedded database lives in the data directory unless the database is named.
    if !table.contains_key("database_url")
        && let Some(toml::Value::String(dir)) = table.get("data_dir")
    {
        let url = format!("sqlite://{}", Path::new(dir).join("ciba.db").display());
        table.insert("database_url".into(), toml::Value::String(url));
    }
    let settings = deserialize(table, "the configuration (file and CIBA_ variables)")?;
    Ok(Loaded { settings, warnings })
}

/// The effective settings as TOML, secrets replaced by `<redacted>`: the admin token, a
/// database password. Paths to key files are shown (they are not the keys).
pub fn redacted_toml(settings: &Settings) -> String {
    let mut shown = settings.clone();
    if shown.admin_token.is_some() {
        shown.admin_token = Some("<redacted>".into());
    }
    if let Ok(mut url) = url::Url::parse(&shown.database_url)
        && url.password().is_some()
        && url.set_password(Some("redacted")).is_ok()
    {
        shown.database_url = url.to_string();
    }
    toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot show the settings: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_setting_comes_from_the_environment_by_its_path() {
        let loaded = load(
            None,
            env(&[
                ("CIBA_LISTEN", "0.0.0.0:9000"),
                ("CIBA_HTTP__MAX_CONNECTIONS", "77"),
                ("CIBA_NOTIFICATIONS__ALLOW_PLAIN_HTTP", "true"),
                ("CIBA_PUSH__FCM__PROJECT_ID", "bank-prod"),
                ("CIBA_PUSH__FCM__SERVICE_ACCOUNT_FILE", "/etc/ciba/fcm.json"),
                ("CIBA_ATTESTATION__POLICY", "required"),
                ("CIBA_ATTESTATION__APPLE__APPS", r#"["T.com.bank"]"#),
                ("CIBA_ADMIN_TOKEN", "12345678901234567890"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        let s = loaded.settings;
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.http.max_connections, 77);
        assert!(s.notifications.allow_plain_http);
        let fcm = s.push.fcm.unwrap();
        assert_eq!(fcm.project_id, "bank-prod");
        assert_eq!(fcm.service_account_file, Path::new("/etc/ciba/fcm.json"));
        // A table started from the environment gets its defaults.
        assert_eq!(fcm.base_url, "https://fcm.googleapis.com");
        assert_eq!(
            s.attestation.policy,
            super::super::AttestationMode::Required
        );
        assert_eq!(s.attestation.apple.apps, ["T.com.bank"]);
        // Digits stay text for a text setting.
        assert_eq!(s.admin_token.as_deref(), Some("12345678901234567890"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn the_environment_overrides_the_file_and_secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ciba.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1111\"\n[http]\nmax_connections = 5\n",
        )
        .unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cret-token-from-a-file\n").unwrap();
        let loaded = load(
            Some(&file),
            env(&[
                ("CIBA_HTTP__MAX_CONNECTIONS", "9"),
                ("CIBA_ADMIN_TOKEN_FILE", secret.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.settings.listen.to_string(), "127.0.0.1:1111");
        assert_eq!(loaded.settings.http.max_connections, 9);
        assert_eq!(
            loaded.settings.admin_token.as_deref(),
            Some("s3cret-token-from-a-file")
        );
        let shown = redacted_toml(&loaded.settings);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("admin_token = \"<redacted>\""), "{shown}");
    }

    #[test]
    fn bad_and_unknown_variables_are_named() {
        let err = load(None, env(&[("CIBA_LISTEN", "bad")])).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid setting: CIBA_LISTEN:"),
            "{err}"
        );
        let err = load(None, env(&[("CIBA_HTTP__MAX_CONNECTIONS", "many")])).unwrap_err();
        assert!(err.to_string().contains("is not an integer"), "{err}");
        let err = load(None, env(&[("CIBA_ATTESTATION__POLICY", "sometimes")])).unwrap_err();
        assert!(
            err.to_string().contains("CIBA_ATTESTATION__POLICY"),
            "{err}"
        );
        let err = load(None, env(&[("CIBA_ADMIN_TOKEN_FILE", "/nonexistent/x")])).unwrap_err();
        assert!(
            err.to_string().contains("cannot read /nonexistent/x"),
            "{err}"
        );
        let loaded = load(
            None,
            env(&[
                ("CIBA_LISTN", "x"),
                ("CIBA_HTTP__MAX_CONECTIONS", "1"),
                ("CIBA_CONFIG", "f"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("CIBA_HTTP__MAX_CONECTIONS"));
        let shown = redacted_toml(&Settings {
            database_url: "postgres://ciba:pw@db/ciba".into(),
            ..Settings::default()
        });
        assert!(
            shown.contains("postgres://ciba:redacted@db/ciba"),
            "{shown}"
        );
    }

    #[test]
    fn the_data_directory_holds_the_database_unless_one_is_named() {
        let loaded = load(None, env(&[("CIBA_DATA_DIR", "/var/lib/ciba")])).unwrap();
        assert_eq!(
            loaded.settings.database_url,
            "sqlite:///var/lib/ciba/ciba.db"
        );
        let loaded = load(
            None,
            env(&[
                ("CIBA_DATA_DIR", "/var/lib/ciba"),
                ("CIBA_DATABASE_URL", "postgres://db/ciba"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.settings.database_url, "postgres://db/ciba");
        assert_eq!(
            load(None, env(&[])).unwrap().settings.database_url,
            "sqlite://./data/ciba.db"
        );
    }

    #[test]
    fn the_printed_settings_read_back_as_the_same_settings() {
        let loaded = load(None, env(&[("CIBA_HTTP__MAX_CONNECTIONS", "9")])).unwrap();
        let text = redacted_toml(&loaded.settings);
        let again: Settings = toml::from_str(&text).unwrap();
        assert_eq!(again.http.max_connections, 9);
    }
}
