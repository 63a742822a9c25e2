//! Short-lived state in memory, per instance: the client registrations (every OAuth call
//! authenticates its client, and clients change rarely) and the clients' request rates.
//!
//! The registration cache: clients change rarely. Entries live two seconds, so a client deleted or changed on another
//! instance stops working there within that time; the instance that deletes it forgets it at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{Client, Store, StoreResult};

const TTL: Duration = Duration::from_secs(2);
/// Bounds memory when many distinct client ids are tried.
const MAX_ENTRIES: usize = 10_000;

/// Registered clients by id, fresh for [`TTL`]. Unknown ids are cached too (as unknown), so a
/// client id that does not exist costs what a registered one costs: client authentication does
/// not tell by its timing which ids are registered.
#[derive(Debug, Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, (Instant, Option<Client>)>>,
}

impl ClientCache {
    /// The client (or that there is none), from the cache when fresh, otherwise from the store.
    pub async fn get(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Client>> {
        if let Ok(entries) = self.entries.lock()
            && let Some((at, client)) = entries.get(id)
            && at.elapsed() < TTL
        {
            return Ok(client.clone());
        }
        let client = store.client(id).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id.to_owned(), (Instant::now(), client.clone()));
        }
        Ok(client)
    }

    /// Forgets a client (created, deleted or changed on this instance).
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

/// How long a client certificate that passed a client's checks is trusted again without them,
/// seconds of the injected clock.
pub const CERTIFICATE_CHECK_TTL: i64 = 60;

/// Client certificates that passed a client's `tls_client_auth` or `self_signed_tls_client_auth`
/// checks (chain, name, key), by client id and certificate thumbprint, per instance: a client
/// sends the same certificate on every request, and checking its chain each time would cost
/// more than the rest of the request. An entry lasts [`CERTIFICATE_CHECK_TTL`] seconds.
#[derive(Debug, Default)]
pub struct CertificateChecks {
    passed: Mutex<HashMap<(String, String), i64>>,
}

impl CertificateChecks {
    /// Whether `client_id`'s checks passed for the certificate `thumbprint` less than the TTL
    /// before `now`.
    pub fn passed(&self, client_id: &str, thumbprint: &str, now: i64) -> bool {
        let Ok(passed) = self.passed.lock() else {
            return false;
        };
        passed
            .get(&(client_id.to_owned(), thumbprint.to_owned()))
            .is_some_and(|at| (0..CERTIFICATE_CHECK_TTL).contains(&(now - at)))
    }

    /// Records that the checks passed at `now`.
    pub fn record(&self, client_id: &str, thumbprint: &str, now: i64) {
        if let Ok(mut passed) = self.passed.lock() {
            if passed.len() >= MAX_ENTRIES {
                passed.retain(|_, at| now - *at < CERTIFICATE_CHECK_TTL);
                if passed.len() >= MAX_ENTRIES {
                    passed.clear();
                }
            }
            passed.insert((client_id.to_owned(), thumbprint.to_owned()), now);
        }
    }
}

/// Backchannel requests per client in the current second (of the injected clock), per instance:
/// what `[ciba] client_requests_per_second` limits.
#[derive(Debug, Default)]
pub struct ClientRates {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl ClientRates {
    /// Counts a request of `client_id` at second `now`; false when it is over `limit` requests
    /// in that second.
    pub fn allow(&self, client_id: &str, now: i64, limit: u32) -> bool {
        let mut windows = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        if windows.len() >= MAX_ENTRIES && !windows.contains_key(client_id) {
            windows.retain(|_, (second, _)| *second == now);
        }
        let window = windows.entry(client_id.to_owned()).or_insert((now, 0));
        if window.0 != now {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return false;
        }
        window.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientCache, ClientRates};
    use crate::store::{Client, ClientAuthMethod, DeliveryMode, SqliteStore, Store};

    #[tokio::test]
    async fn unknown_client_ids_are_cached_as_unknown() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        let cache = ClientCache::default();
        assert_eq!(cache.get(&store, "c1").await.unwrap(), None);
        let client = Client {
            id: "c1".into(),
            name: "Console".into(),
            logo_uri: None,
            delivery_mode: DeliveryMode::Poll,
            notification_endpoint: None,
            auth_method: ClientAuthMethod::ClientSecretBasic,
            secret_hash: None,
            scope: vec!["openid".into()],
            user_code_parameter: false,
            request_signing_alg: None,
            jwks: None,
            jwks_uri: None,
            fapi: false,
            tls_client_auth: None,
            refresh_token_grant: false,
            id_token_signed_response_alg: None,
            registration_token_hash: None,
            created_at: 1,
        };
        store.insert_client(&client).await.unwrap();
        // Served from the cache, as a registered client would be: no store read.
        assert_eq!(cache.get(&store, "c1").await.unwrap(), None);
        cache.forget("c1");
        assert_eq!(cache.get(&store, "c1").await.unwrap(), Some(client));
    }

    #[test]
    fn a_client_gets_its_limit_per_second() {
        let rates = ClientRates::default();
        for _ in 0..3 {
            assert!(rates.allow("c", 100, 3));
        }
        assert!(!rates.allow("c", 100, 3));
        assert!(rates.allow("other", 100, 3), "per client");
        assert!(rates.allow("c", 101, 3), "a new second");
    }
}
