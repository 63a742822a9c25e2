use serde::{Deserialize, Serialize};

use super::ProtocolError;

/// The version string of wake-up push payloads.
pub const PUSH_PAYLOAD_VERSION: &str = "1";

/// A wake-up push: `{"v":"1","iss":"<issuer>","txn":"<txn_id>"}`. It carries no personal data;
/// the device fetches the transaction itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPayload {
    /// Payload version, `"1"`.
    pub v: String,
    /// The issuer that sent it (routes the push to the right account).
    pub iss: String,
    /// The transaction to fetch.
    pub txn: String,
}

impl PushPayload {
    /// A v1 payload.
    pub fn new(iss: impl Into<String>, txn: impl Into<String>) -> Self {
        Self {
            v: PUSH_PAYLOAD_VERSION.to_owned(),
            iss: iss.into(),
            txn: txn.into(),
        }
    }

    /// Reads a payload from its JSON text and checks its shape.
    pub fn from_json(json: &str) -> Result<Self, ProtocolError> {
        let payload: Self = serde_json::from_str(json)
            .map_err(|e| ProtocolError::InvalidPushPayload(e.to_string()))?;
        payload.validate()?;
        Ok(payload)
    }

    /// Checks the version and that `iss` and `txn` are plausible.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.v != PUSH_PAYLOAD_VERSION {
            return Err(ProtocolError::InvalidPushPayload(format!(
                "unsupported version {:?}",
                self.v
            )));
        }
        if self.iss.is_empty() || self.iss.len() > 2048 {
            return Err(ProtocolError::InvalidPushPayload("bad issuer".into()));
        }
        let txn_ok = !self.txn.is_empty()
            && self.txn.len() <= 128
            && self
                .txn
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !txn_ok {
            return Err(ProtocolError::InvalidPushPayload(
                "bad transaction id".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_payload_shape() {
        let p = PushPayload::new("https://as.example", "txn_abc");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"v":"1","iss":"https://as.example","txn":"txn_abc"}"#
        );
        assert_eq!(
            PushPayload::from_json(r#"{"v":"1","iss":"https://as.example","txn":"txn_abc"}"#),
            Ok(p)
        );
    }

    #[test]
    fn push_payload_rejects_bad_input() {
        for bad in [
            r#"{"v":"2","iss":"https://a","txn":"t"}"#,
            r#"{"v":"1","iss":"","txn":"t"}"#,
            r#"{"v":"1","iss":"https://a","txn":"../../etc"}"#,
            r#"{"v":"1","iss":"https://a"}"#,
            "[]",
            "",
        ] {
            assert!(PushPayload::from_json(bad).is_err(), "{bad}");
        }
    }
}
