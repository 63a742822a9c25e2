//! Apple App Attest: the attestation object of `DCAppAttestService.attestKey`, verified as
//! Apple's "Validating apps that connect to your server" procedure says.
//!
//! What it proves: a genuine instance of the allowed app (team id + bundle id), on a genuine
//! Apple device, generated an App Attest key in the Secure Enclave and asked Apple to attest it
//! together with `clientDataHash`, which binds this enrollment's challenge and the device key's
//! `jkt`. What it does **not** prove: that the device key (the one that signs DPoP proofs and
//! decisions) lives in the Secure Enclave, or that it requires biometrics. So an App Attest
//! enrollment is an attested *app*, and `amr` keeps saying `swk` for its key.

use x509_parser::certificate::X509Certificate;

use super::cbor::{self, Value};
use super::der::{self, Reader};
use super::{AppleEnvironment, ApplePolicy, Expected, Refusal, Verified, chain};

const NONCE_OID: &str = "1.2.840.113635.100.8.2";
const AAGUID_DEVELOPMENT: &[u8; 16] = b"appattestdevelop";
const AAGUID_PRODUCTION: &[u8; 16] = b"appattest\0\0\0\0\0\0\0";

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    parts
        .iter()
        .fold(sha2::Sha256::new(), |hash, part| hash.chain_update(part))
        .finalize()
        .into()
}

/// The bytes the app hashes into `clientDataHash` (DEVICE-PROTOCOL.md §3.1): the enrollment's
/// attestation challenge, then the device key's `jkt` in ASCII.
pub fn client_data(challenge: &[u8], jkt: &str) -> Vec<u8> {
    [challenge, jkt.as_bytes()].concat()
}

fn nonce_of(leaf: &X509Certificate<'_>) -> Result<Vec<u8>, Refusal> {
    let ext = leaf
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == NONCE_OID)
        .ok_or_else(|| Refusal::Malformed("the leaf has no App Attest nonce extension".into()))?;
    // SEQUENCE { [1] EXPLICIT OCTET STRING }
    let parse = || -> Result<Vec<u8>, der::DerError> {
        let mut outer = Reader::new(ext.value);
        let seq = outer.expect(der::SEQUENCE)?;
        outer.finish()?;
        let mut r = Reader::new(seq.value);
        let tagged = r.next_tlv()?;
        if tagged.class != der::CONTEXT || tagged.number != 1 {
            return Err(der::DerError("nonce is not tagged [1]"));
        }
        let mut inner = Reader::new(tagged.value);
        Ok(inner.expect(der::OCTET_STRING)?.value.to_vec())
    };
    parse().map_err(|e| Refusal::Malformed(format!("App Attest nonce: {e}")))
}

/// What authenticator data holds (WebAuthn layout).
struct AuthData<'a> {
    rp_id_hash: &'a [u8],
    counter: u32,
    aaguid: &'a [u8],
    credential_id: &'a [u8],
    cose_key: Value<'a>,
}

fn parse_auth_data(bytes: &[u8]) -> Result<AuthData<'_>, Refusal> {
    let bad = |what: &str| Refusal::Malformed(format!("authenticator data: {what}"));
    if bytes.len() < 37 + 18 {
        return Err(bad("too short"));
    }
    let (rp_id_hash, rest) = bytes.split_at(32);
    let flags = rest[0];
    if flags & 0x40 == 0 {
        return Err(bad("no attested credential data"));
    }
    let counter = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
    let rest = &rest[5..];
    let (aaguid, rest) = rest.split_at(16);
    let id_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let rest = &rest[2..];
    if rest.len() < id_len {
        return Err(bad("credential id runs past the end"));
    }
    let (credential_id, rest) = rest.split_at(id_len);
    let (cose_key, _extensions) =
        cbor::decode_prefix(rest).map_err(|e| bad(&format!("COSE key: {e}")))?;
    Ok(AuthData {
        rp_id_hash,
        counter,
        aaguid,
        credential_id,
        cose_key,
    })
}

/// Verifies an App Attest attestation object (raw CBOR).
pub fn verify(
    data: &[u8],
    expected: &Expected<'_>,
    policy: &ApplePolicy,
) -> Result<Verified, Refusal> {
    let object = cbor::decode(data).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if object.get("fmt") != Some(&Value::Text("apple-appattest")) {
        return Err(Refusal::Malformed("fmt is not apple-appattest".into()));
    }
    let x5c: Vec<&[u8]> = match object.get("attStmt").and_then(|s| s.get("x5c")) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_bytes())
            .collect::<Option<_>>()
            .ok_or_else(|| Refusal::Malformed("x5c holds a non-bytes item".into()))?,
        _ => return Err(Refusal::Malformed("attStmt.x5c is missing".into())),
    };
    let auth_data_bytes = object
        .get("authData")
        .and_then(Value::as_bytes)
        .ok_or_else(|| Refusal::Malformed("authData is missing".into()))?;
    let certs = chain::parse_list(&x5c)?;
    chain::verify(&certs, &policy.roots, expected.now)?;
    let leaf = &certs[0];

    let client_data_hash = sha256(&[&client_data(expected.challenge, expected.jkt)]);
    let nonce = sha256(&[auth_data_bytes, &client_data_hash]);
    if nonce_of(leaf)? != nonce {
        return Err(Refusal::ChallengeMismatch);
    }
    let auth = parse_auth_data(auth_data_bytes)?;
    let leaf_point = leaf.public_key().subject_public_key.data.as_ref();
    if leaf_point.len() != 65 || sha256(&[leaf_point]).as_slice() != auth.credential_id {
        return Err(Refusal::Malformed(
            "the credential id is not the hash of the attested key".into(),
        ));
    }
    let cose_x = auth.cose_key.get_int(-2).and_then(Value::as_bytes);
    let cose_y = auth.cose_key.get_int(-3).and_then(Value::as_bytes);
    if cose_x != Some(&leaf_point[1..33]) || cose_y != Some(&leaf_point[33..65]) {
        return Err(Refusal::Malformed(
            "the COSE key is not the attested key".into(),
        ));
    }
    if auth.counter != 0 {
        return Err(Refusal::Malformed(
            "the counter of a new key is not 0".into(),
        ));
    }
    let app_id = policy
        .apps
        .iter()
        .find(|app| sha256(&[app.as_bytes()]).as_slice() == auth.rp_id_hash)
        .ok_or_else(|| Refusal::AppIdentity("the attested app is not an allowed app".into()))?;
    let aaguid: &[u8] = match policy.environment {
        AppleEnvironment::Production => AAGUID_PRODUCTION,
        AppleEnvironment::Development => AAGUID_DEVELOPMENT,
    };
    if auth.aaguid != aaguid {
        return Err(Refusal::AppIdentity(format!(
            "the attestation is not from the {} environment",
            policy.environment.as_str()
        )));
    }
    Ok(Verified {
        format: super::APPLE_APP_ATTEST.into(),
        hardware_key: false,
        security_level: None,
        user_verification: None,
        verified_boot: None,
        app_id: Some(app_id.clone()),
        app_signers: Vec::new(),
        environment: Some(policy.environment.as_str().into()),
        attestation_version: None,
    })
}
