//! A short-lived cache of client registrations: every OAuth call authenticates its client, and
//! clients change rarely. Entries live two seconds, so a client deleted or changed on another
//! instance stops working there within that time; the instance that deletes it forgets it at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{Client, Store, StoreResult};

const TTL: Duration = Duration::from_secs(2);
/// Bounds memory when many distinct client ids are tried.
const MAX_ENTRIES: usize = 10_000;

/// Registered clients by id, fresh for [`TTL`]. Unknown ids are not cached.
#[derive(Debug, Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, (Instant, Client)>>,
}

impl ClientCache {
    /// The client, from the cache when fresh, otherwise from the store.
    pub async fn get(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Client>> {
        if let Ok(entries) = self.entries.lock()
            && let Some((at, client)) = entries.get(id)
            && at.elapsed() < TTL
        {
            return Ok(Some(client.clone()));
        }
        let client = store.client(id).await?;
        if let (Some(c), Ok(mut entries)) = (&client, self.entries.lock()) {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id.to_owned(), (Instant::now(), c.clone()));
        }
        Ok(client)
    }

    /// Forgets a client (deleted or changed on this instance).
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}
