//! The user's decision: a JWS over exactly what the transaction showed (DEVICE-PROTOCOL.md §6).

use reqwest::Method;

use super::device_api::decode;
use super::error::signing_error;
use super::transactions::check_txn_id;
use super::{Account, Authenticator, AuthenticatorError, KeyStoreSigner, Transaction};
use crate::jose::software::random_b64u;
use crate::jose::{JwsHeader, sign_compact};
use crate::protocol::{
    DECISION_TYP, DecisionAction, DecisionClaims, DecisionRequest, DecisionResponse,
    DecisionStatus, DenyReason, TransactionStatus, paths,
};

/// How long a decision JWS is valid (the protocol allows up to 120 s).
const DECISION_LIFETIME_SECS: i64 = 60;

/// Bytes of randomness in a decision `jti`.
const JTI_BYTES: usize = 16;

impl Authenticator {
    /// Approves the transaction: signs a decision over exactly what `txn.view` shows and sends
    /// it. `amr` says how the user was verified (RFC 8176: `["swk"]`, `["hwk","face"]`, …).
    pub async fn approve(
        &self,
        txn: &Transaction,
        amr: Vec<String>,
    ) -> Result<DecisionStatus, AuthenticatorError> {
        self.decide(txn, DecisionAction::Approve, amr, None).await
    }

    /// Denies the transaction. [`DenyReason::NotRecognized`] reports it as fraud. The decision
    /// carries an empty `amr`: declining needs no user verification.
    pub async fn deny(
        &self,
        txn: &Transaction,
        reason: DenyReason,
    ) -> Result<DecisionStatus, AuthenticatorError> {
        self.decide(txn, DecisionAction::Deny, Vec::new(), Some(reason))
            .await
    }

    /// The decision JWS for `txn`, without sending it.
    ///
    /// Refused locally when the view is not pending ([`AuthenticatorError::InvalidInput`]) or has
    /// expired by the clock ([`AuthenticatorError::Expired`]), when an approval names no `amr`,
    /// or when a `deny_reason` accompanies an approval.
    pub fn build_decision(
        &self,
        txn: &Transaction,
        action: DecisionAction,
        amr: Vec<String>,
        deny_reason: Option<DenyReason>,
    ) -> Result<String, AuthenticatorError> {
        let account = self.account(&txn.account_id)?;
        let signer = self.decision_signer(&account, action)?;
        self.sign_decision(&account, &signer, txn, action, amr, deny_reason)
    }

    /// Approvals are signed by the approval key when the account has one (it may prompt for
    /// the user's biometrics); denials, and everything else, by the account's key.
    fn decision_signer(
        &self,
        account: &Account,
        action: DecisionAction,
    ) -> Result<KeyStoreSigner, AuthenticatorError> {
        match action {
            DecisionAction::Approve => self.approval_signer_for(account),
            DecisionAction::Deny => self.signer_for(account),
        }
    }

    async fn decide(
        &self,
        txn: &Transaction,
        action: DecisionAction,
        amr: Vec<String>,
        deny_reason: Option<DenyReason>,
    ) -> Result<DecisionStatus, AuthenticatorError> {
        let account = self.account(&txn.account_id)?;
        let signer = self.signer_for(&account)?;
        let decision_signer = self.decision_signer(&account, action)?;
        let decision =
            self.sign_decision(&account, &decision_signer, txn, action, amr, deny_reason)?;
        let body = serde_json::to_vec(&DecisionRequest { decision })
            .map_err(|e| AuthenticatorError::InvalidInput(e.to_string()))?;
        let answer = self
            .api
            .call(
                &signer,
                &account.issuer,
                &account.tls_pins,
                Method::POST,
                &paths::decision(&txn.view.id),
                Some(body),
            )
            .await?;
        let response: DecisionResponse = decode("decision", &answer)?;
        Ok(response.status)
    }

    fn sign_decision(
        &self,
        account: &Account,
        signer: &KeyStoreSigner,
        txn: &Transaction,
        action: DecisionAction,
        amr: Vec<String>,
        deny_reason: Option<DenyReason>,
    ) -> Result<String, AuthenticatorError> {
        let view = &txn.view;
        check_txn_id(&view.id)?;
        let now = self.clock.now();
        match view.status {
            TransactionStatus::Pending if now < view.expires_at => {}
            TransactionStatus::Pending | TransactionStatus::Expired => {
                return Err(AuthenticatorError::Expired);
            }
            TransactionStatus::Approved
            | TransactionStatus::Denied
            | TransactionStatus::Cancelled => {
                return Err(AuthenticatorError::InvalidInput(format!(
                    "transaction {} is no longer pending",
                    view.id
                )));
            }
        }
        match (action, &deny_reason) {
            (DecisionAction::Approve, Some(_)) => {
                return Err(AuthenticatorError::InvalidInput(
                    "an approval cannot carry a deny reason".into(),
                ));
            }
            (DecisionAction::Approve, None) if amr.is_empty() => {
                return Err(AuthenticatorError::InvalidInput(
                    "an approval must say how the user was verified (amr)".into(),
                ));
            }
            _ => {}
        }
        if action == DecisionAction::Approve {
            super::transactions::check_display_safe(view)?;
        }
        let claims = DecisionClaims {
            iss: account.device_id.clone(),
            aud: account.issuer.clone(),
            txn: view.id.clone(),
            challenge: view.challenge.clone(),
            action,
            consent_hash: view.consent_hash()?,
            amr,
            deny_reason,
            user_code: None,
            iat: now,
            exp: now + DECISION_LIFETIME_SECS,
            jti: random_b64u(JTI_BYTES)?,
        };
        let header = JwsHeader {
            alg: "ES256".into(),
            typ: Some(DECISION_TYP.into()),
            kid: Some(account.device_id.clone()),
            jwk: None,
        };
        sign_compact(&header, &claims, signer).map_err(|e| signing_error(signer, e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::KeyStore;
    use super::super::test_support::Fixture;
    use super::*;
    use crate::jose::CompactJws;
    use crate::jose::software::verify_es256;
    use crate::protocol::DECISION_MAX_LIFETIME_SECS;

    #[test]
    fn decision_verifies_with_the_account_key_and_binds_the_view() {
        let fx = Fixture::new();
        let txn = fx.transaction();
        let jws = fx
            .authenticator
            .build_decision(&txn, DecisionAction::Approve, vec!["swk".into()], None)
            .unwrap();

        let parsed = CompactJws::parse(&jws).unwrap();
        assert_eq!(parsed.header.alg, "ES256");
        assert_eq!(parsed.header.typ.as_deref(), Some(DECISION_TYP));
        assert_eq!(parsed.header.kid.as_deref(), Some("dev-1"));
        assert_eq!(parsed.header.jwk, None);
        let jwk = fx.keys_jwk();
        verify_es256(&jwk, parsed.signing_input.as_bytes(), &parsed.signature).unwrap();

        let claims: DecisionClaims = parsed.claims().unwrap();
        assert_eq!(claims.iss, "dev-1");
        assert_eq!(claims.aud, "https://as.example");
        assert_eq!(claims.txn, txn.view.id);
        assert_eq!(claims.challenge, txn.view.challenge);
        assert_eq!(claims.action, DecisionAction::Approve);
        assert_eq!(claims.consent_hash, txn.view.consent_hash().unwrap());
        assert_eq!(claims.amr, vec!["swk".to_owned()]);
        assert_eq!(claims.deny_reason, None);
        assert_eq!(claims.user_code, None);
        assert_eq!(claims.iat, fx.now());
        assert_eq!(claims.exp, fx.now() + 60);
        assert!(claims.exp - claims.iat <= DECISION_MAX_LIFETIME_SECS);
        assert!(claims.jti.len() >= 16);

        // The consent hash follows what the view shows.
        let mut other = txn.clone();
        other.view.binding_message = Some("something else".into());
        let jws2 = fx
            .authenticator
            .build_decision(&other, DecisionAction::Approve, vec!["swk".into()], None)
            .unwrap();
        let claims2: DecisionClaims = CompactJws::parse(&jws2).unwrap().claims().unwrap();
        assert_ne!(claims2.consent_hash, claims.consent_hash);
        assert_ne!(claims2.jti, claims.jti);
    }

    #[test]
    fn text_that_would_render_other_than_it_reads_is_not_signed() {
        let fx = Fixture::new();
        for tamper in [
            |t: &mut Transaction| t.view.binding_message = Some("Pay \u{202e}EMCA".into()),
            |t: &mut Transaction| {
                t.view.authorization_details = Some(vec![
                    serde_json::json!({"type": "payment", "note": "\u{1b}[8mhidden"}),
                ])
            },
            |t: &mut Transaction| t.view.client.name = "Bank\u{7}".into(),
        ] {
            let mut txn = fx.transaction();
            tamper(&mut txn);
            let refused = fx.authenticator.build_decision(
                &txn,
                DecisionAction::Approve,
                vec!["swk".into()],
                None,
            );
            assert!(
                matches!(refused, Err(AuthenticatorError::Protocol(_))),
                "{refused:?}"
            );
            // Declining needs no display: the user can still say no.
            fx.authenticator
                .build_decision(
                    &txn,
                    DecisionAction::Deny,
                    vec![],
                    Some(DenyReason::UserDeclined),
                )
                .unwrap();
        }
    }

    #[test]
    fn deny_carries_its_reason() {
        let fx = Fixture::new();
        let jws = fx
            .authenticator
            .build_decision(
                &fx.transaction(),
                DecisionAction::Deny,
                vec![],
                Some(DenyReason::NotRecognized),
            )
            .unwrap();
        let claims: serde_json::Value = CompactJws::parse(&jws).unwrap().claims().unwrap();
        assert_eq!(claims["action"], "deny");
        assert_eq!(claims["deny_reason"], "not_recognized");
        assert!(claims.get("user_code").is_none());
    }

    #[test]
    fn refuses_what_cannot_be_decided() {
        let fx = Fixture::new();
        let auth = &fx.authenticator;
        let swk = || vec!["swk".to_owned()];

        for status in [
            TransactionStatus::Approved,
            TransactionStatus::Denied,
            TransactionStatus::Cancelled,
        ] {
            let mut decided = fx.transaction();
            decided.view.status = status;
            assert!(matches!(
                auth.build_decision(&decided, DecisionAction::Approve, swk(), None),
                Err(AuthenticatorError::InvalidInput(_))
            ));
        }
        let mut expired = fx.transaction();
        expired.view.status = TransactionStatus::Expired;
        assert_eq!(
            auth.build_decision(&expired, DecisionAction::Deny, vec![], None),
            Err(AuthenticatorError::Expired)
        );

        let txn = fx.transaction();
        assert!(matches!(
            auth.build_decision(&txn, DecisionAction::Approve, vec![], None),
            Err(AuthenticatorError::InvalidInput(_))
        ));
        assert!(matches!(
            auth.build_decision(
                &txn,
                DecisionAction::Approve,
                swk(),
                Some(DenyReason::UserDeclined)
            ),
            Err(AuthenticatorError::InvalidInput(_))
        ));

        let mut bad_id = fx.transaction();
        bad_id.view.id = "../admin".into();
        assert!(matches!(
            auth.build_decision(&bad_id, DecisionAction::Approve, swk(), None),
            Err(AuthenticatorError::InvalidInput(_))
        ));

        let mut orphan = fx.transaction();
        orphan.account_id = "nobody".into();
        assert_eq!(
            auth.build_decision(&orphan, DecisionAction::Approve, swk(), None),
            Err(AuthenticatorError::NotFound)
        );

        fx.clock.set(txn.view.expires_at);
        assert_eq!(
            auth.build_decision(&txn, DecisionAction::Approve, swk(), None),
            Err(AuthenticatorError::Expired)
        );
    }

    #[test]
    fn a_missing_key_is_reported_as_such() {
        let fx = Fixture::new();
        fx.keys.delete_key("key-1".into()).unwrap();
        assert_eq!(
            fx.authenticator.build_decision(
                &fx.transaction(),
                DecisionAction::Approve,
                vec!["swk".into()],
                None
            ),
            Err(AuthenticatorError::KeyMissing)
        );
        assert_eq!(
            fx.authenticator.signer("acct-1").unwrap_err(),
            AuthenticatorError::KeyMissing
        );
    }
}
