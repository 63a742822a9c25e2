//! Device lifecycle end to end: several accounts, push-token and key rotation, unenrollment, revocation, restore detection, TLS pinning.
