//! Where accounts are kept: the [`AccountStore`] trait and two implementations, a JSON file
//! ([`FileAccountStore`]) and memory ([`MemoryAccountStore`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::fs::atomic_write;
use super::{Account, StoreError};

/// Persistent storage of [`Account`]s. The app may supply its own (a database, encrypted
/// preferences); the SDK only needs these three operations. Like [`KeyStore`](super::KeyStore)
/// it takes owned plain types, so it can become a uniffi foreign trait.
///
/// An implementation must make each `save` and `delete` atomic: after a crash, either the old
/// or the new state is read back, never a torn one.
pub trait AccountStore: Send + Sync {
    /// Every stored account, in enrollment order.
    fn load_all(&self) -> Result<Vec<Account>, StoreError>;
    /// Inserts the account, or replaces the stored one with the same `id`.
    fn save(&self, account: Account) -> Result<(), StoreError>;
    /// Removes the account with this id; removing an absent account is not an error.
    fn delete(&self, account_id: String) -> Result<(), StoreError>;
}

/// Accounts in memory, for tests and ephemeral use.
#[derive(Debug, Default)]
pub struct MemoryAccountStore {
    accounts: Mutex<Vec<Account>>,
}

impl MemoryAccountStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl AccountStore for MemoryAccountStore {
    fn load_all(&self) -> Result<Vec<Account>, StoreError> {
        Ok(lock(&self.accounts).clone())
    }

    fn save(&self, account: Account) -> Result<(), StoreError> {
        upsert(&mut lock(&self.accounts), account);
        Ok(())
    }

    fn delete(&self, account_id: String) -> Result<(), StoreError> {
        lock(&self.accounts).retain(|a| a.id != account_id);
        Ok(())
    }
}

/// The on-disk layout, versioned so a later SDK can migrate it.
#[derive(Serialize, Deserialize)]
struct AccountsFile {
    version: u32,
    accounts: Vec<Account>,
}

const FILE_VERSION: u32 = 1;

/// Accounts in one JSON file, rewritten atomically on every change (temporary file in the same
/// directory, fsync, rename), so a crash leaves the previous version readable. A missing file
/// means no accounts.
#[derive(Debug)]
pub struct FileAccountStore {
    path: PathBuf,
    /// Serialises read-modify-write cycles within this process.
    write_lock: Mutex<()>,
}

impl FileAccountStore {
    /// A store backed by the file at `path`. An existing file is read once so that a corrupt or
    /// unreadable one is reported now; a missing file is fine (no accounts yet). Nothing is
    /// created until the first save, which also creates the parent directory.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self {
            path: path.into(),
            write_lock: Mutex::new(()),
        };
        store.read()?;
        Ok(store)
    }

    /// The file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Vec<Account>, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.path, &e)),
        };
        let file: AccountsFile = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.path.display())))?;
        if file.version != FILE_VERSION {
            return Err(StoreError::Corrupt(format!(
                "{}: unsupported version {}",
                self.path.display(),
                file.version
            )));
        }
        Ok(file.accounts)
    }

    fn write(&self, accounts: Vec<Account>) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            super::fs::ensure_private_dir(dir).map_err(|e| io_error(dir, &e))?;
        }
        let file = AccountsFile {
            version: FILE_VERSION,
            accounts,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Io(e.to_string()))?;
        atomic_write(&self.path, &json).map_err(|e| io_error(&self.path, &e))
    }
}

impl AccountStore for FileAccountStore {
    fn load_all(&self) -> Result<Vec<Account>, StoreError> {
        self.read()
    }

    fn save(&self, account: Account) -> Result<(), StoreError> {
        let _guard = lock(&self.write_lock);
        let mut accounts = self.read()?;
        upsert(&mut accounts, account);
        self.write(accounts)
    }

    fn delete(&self, account_id: String) -> Result<(), StoreError> {
        let _guard = lock(&self.write_lock);
        let mut accounts = self.read()?;
        let before = accounts.len();
        accounts.retain(|a| a.id != account_id);
        if accounts.len() == before {
            return Ok(());
        }
        self.write(accounts)
    }
}

fn upsert(accounts: &mut Vec<Account>, account: Account) {
    match accounts.iter_mut().find(|a| a.id == account.id) {
        Some(slot) => *slot = account,
        None => accounts.push(account),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

/// A poisoned lock only means another thread panicked mid-operation; the data (a Vec, or
/// nothing) is still consistent, so carry on rather than propagate the panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PushRegistration;

    fn account(id: &str) -> Account {
        Account {
            id: id.into(),
            issuer: "https://as.example".into(),
            device_id: format!("dev-{id}"),
            key_alias: format!("key-{id}"),
            subject: "sub-1".into(),
            user_display_name: Some("Mark".into()),
            account_label: "Bank (mark)".into(),
            enrolled_at: 1_790_000_000,
            push: PushRegistration::none(),
            key_options: Default::default(),
            tls_pins: vec![],
            attestation: Some(crate::protocol::EnrolledAttestation {
                status: "verified".into(),
                amr: vec!["hwk".into()],
                reason: None,
            }),
            approval_key_alias: Some(format!("approval-{id}")),
            approval_attestation: None,
        }
    }

    fn round_trip(store: &dyn AccountStore) {
        assert_eq!(store.load_all().unwrap(), vec![]);
        store.save(account("a")).unwrap();
        store.save(account("b")).unwrap();
        let mut changed = account("a");
        changed.account_label = "renamed".into();
        store.save(changed.clone()).unwrap();
        assert_eq!(store.load_all().unwrap(), vec![changed, account("b")]);
        store.delete("a".into()).unwrap();
        store.delete("absent".into()).unwrap();
        assert_eq!(store.load_all().unwrap(), vec![account("b")]);
    }

    #[test]
    fn memory_store_round_trip() {
        round_trip(&MemoryAccountStore::new());
    }

    #[test]
    fn file_store_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("accounts.json");
        round_trip(&FileAccountStore::open(&path).unwrap());
        assert_eq!(
            FileAccountStore::open(&path).unwrap().load_all().unwrap(),
            vec![account("b")]
        );
    }

    #[test]
    fn missing_file_means_no_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileAccountStore::open(dir.path().join("accounts.json")).unwrap();
        assert_eq!(store.load_all().unwrap(), vec![]);
        store.delete("x".into()).unwrap();
        assert!(!store.path().exists());
    }

    /// A crash during a write leaves a temporary file behind (or a half-written one); the
    /// previous file stays readable and later writes still work.
    #[test]
    fn interrupted_write_leaves_previous_file_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        let store = FileAccountStore::open(&path).unwrap();
        store.save(account("a")).unwrap();
        let stray = dir.path().join(format!(
            "{}accounts.json-crashed",
            super::super::fs::TEMP_PREFIX
        ));
        std::fs::write(&stray, b"{\"version\":1,\"accounts\":[{\"id\":").unwrap();

        let reopened = FileAccountStore::open(&path).unwrap();
        assert_eq!(reopened.load_all().unwrap(), vec![account("a")]);
        reopened.save(account("b")).unwrap();
        assert_eq!(
            reopened.load_all().unwrap(),
            vec![account("a"), account("b")]
        );
        assert!(stray.exists(), "a stray file is ignored, not read");
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        let store = FileAccountStore::open(&path).unwrap();
        std::fs::write(&path, b"not json").unwrap();
        assert!(matches!(
            FileAccountStore::open(&path),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(store.load_all(), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            store.save(account("a")),
            Err(StoreError::Corrupt(_))
        ));
        std::fs::write(&path, br#"{"version":99,"accounts":[]}"#).unwrap();
        assert!(matches!(store.load_all(), Err(StoreError::Corrupt(_))));
    }
}
