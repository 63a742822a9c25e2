//! The CIBA request state machine: what a request *is* at time `now`, and what that means for
//! each party that asks — the client polling the token endpoint, a push-mode delivery to the
//! client, the device listing it, the worker about to wake a device.
//!
//! Stored states move `pending → approved | denied → redeemed`, or to `cancelled` when the user
//! is locked or removed or the client removed; every transition is one conditional write in the store (the SQL of
//! `decide`, `redeem`, `poll_pending` and `pending_requests_of_user` repeats the expiry rule below
//! in its `WHERE` clause, because a compare-and-set must decide atomically). Expiry is not
//! stored: it is this module's reading of `expires_at` against `now`.

use ciba_core::protocol::TransactionStatus;

use crate::error::{Error, OAuthCode};
use crate::store::{CibaRequest, RequestStatus};

/// A request at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for the user, not expired.
    Pending,
    /// Expired before anyone decided.
    Expired,
    /// Approved, tokens not issued yet. `expired`: the request's lifetime is over, so a poll no
    /// longer gets the tokens (a push-mode delivery already under way still does).
    Approved {
        /// Past `expires_at`.
        expired: bool,
    },
    /// Denied by the user.
    Denied {
        /// Past `expires_at`.
        expired: bool,
    },
    /// The tokens were issued (once).
    Redeemed,
    /// Withdrawn by the server (its user was locked or removed, or its client removed).
    Cancelled,
}

/// What a token poll that missed the pending fast path is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    /// Issue the tokens (if this poll wins the approved → redeemed write).
    Tokens,
    /// An OAuth error.
    Refused(OAuthCode, &'static str),
}

/// What a push-mode client is sent about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushModeDelivery {
    /// Mint the tokens and send them (if the approved → redeemed write wins).
    Tokens,
    /// Send `{"auth_req_id", "error", "error_description"}`.
    Error(&'static str, &'static str),
}

/// Whether a device wake-up for the request is still worth sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeupDue {
    /// The user has yet to decide: send it.
    Send,
    /// Decided or withdrawn: nothing to announce.
    Decided,
    /// Expired undecided: too late.
    Expired,
}

impl RequestState {
    /// The state of a request with stored `status` and `expires_at`, at `now`. A request expires
    /// at `expires_at` itself (`now >= expires_at`).
    pub fn of(status: RequestStatus, expires_at: i64, now: i64) -> Self {
        let expired = now >= expires_at;
        match status {
            RequestStatus::Pending if expired => Self::Expired,
            RequestStatus::Pending => Self::Pending,
            RequestStatus::Approved => Self::Approved { expired },
            RequestStatus::Denied => Self::Denied { expired },
            RequestStatus::Redeemed => Self::Redeemed,
            RequestStatus::Cancelled => Self::Cancelled,
        }
    }

    /// The state of `request` at `now`.
    pub fn at(request: &CibaRequest, now: i64) -> Self {
        Self::of(request.status, request.expires_at, now)
    }

    /// The token endpoint's answer (CIBA Core §11). Redeemed and withdrawn requests say so even
    /// after they expired; any other request past its expiry is `expired_token`.
    pub fn poll_answer(self) -> PollAnswer {
        use PollAnswer::Refused;
        match self {
            Self::Redeemed => Refused(
                OAuthCode::InvalidGrant,
                "the tokens of this request were already issued",
            ),
            Self::Cancelled => Refused(OAuthCode::AccessDenied, "the request was withdrawn"),
            Self::Expired | Self::Approved { expired: true } | Self::Denied { expired: true } => {
                Refused(OAuthCode::ExpiredToken, "the request expired")
            }
            Self::Denied { expired: false } => {
                Refused(OAuthCode::AccessDenied, "the user denied the request")
            }
            Self::Pending => Refused(
                OAuthCode::AuthorizationPending,
                "the user has not decided yet",
            ),
            Self::Approved { expired: false } => PollAnswer::Tokens,
        }
    }

    /// What a push-mode client gets (CIBA Core §10.3). The notification is enqueued by the
    /// decision, or by the expiry of an undecided request, so an approval is delivered even if
    /// the delivery itself comes after the expiry.
    pub fn push_mode_delivery(self) -> PushModeDelivery {
        use PushModeDelivery::Error;
        match self {
            Self::Approved { .. } => PushModeDelivery::Tokens,
            Self::Denied { .. } => Error("access_denied", "the user denied the request"),
            Self::Pending | Self::Expired => Error(
                "expired_token",
                "the request expired before the user decided",
            ),
            // Withdrawn because the user was locked or removed: the user cannot be asked.
            Self::Cancelled => Error("access_denied", "the request was withdrawn"),
            Self::Redeemed => Error("transaction_failed", "the request was withdrawn"),
        }
    }

    /// How the user's devices see the request (DEVICE-PROTOCOL.md §5): a decision stays what it
    /// was after the expiry.
    pub fn device_view(self) -> TransactionStatus {
        match self {
            Self::Pending => TransactionStatus::Pending,
            Self::Expired => TransactionStatus::Expired,
            Self::Approved { .. } | Self::Redeemed => TransactionStatus::Approved,
            Self::Denied { .. } => TransactionStatus::Denied,
            Self::Cancelled => TransactionStatus::Cancelled,
        }
    }

    /// Whether waking the user's devices still makes sense.
    pub fn wakeup(self) -> WakeupDue {
        match self {
            Self::Pending => WakeupDue::Send,
            Self::Expired => WakeupDue::Expired,
            _ => WakeupDue::Decided,
        }
    }
}

impl PollAnswer {
    /// The answer as a domain result.
    pub fn into_result(self) -> Result<(), Error> {
        match self {
            Self::Tokens => Ok(()),
            Self::Refused(code, description) => Err(Error::oauth(code, description)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn at(status: RequestStatus, expires_at: i64) -> RequestState {
        RequestState::of(status, expires_at, NOW)
    }

    #[test]
    fn expiry_is_inclusive_and_only_for_undecided_requests() {
        assert_eq!(at(RequestStatus::Pending, NOW + 1), RequestState::Pending);
        assert_eq!(at(RequestStatus::Pending, NOW), RequestState::Expired);
        assert_eq!(
            at(RequestStatus::Approved, NOW),
            RequestState::Approved { expired: true }
        );
        assert_eq!(
            at(RequestStatus::Denied, NOW + 1),
            RequestState::Denied { expired: false }
        );
        assert_eq!(at(RequestStatus::Redeemed, 0), RequestState::Redeemed);
        assert_eq!(at(RequestStatus::Cancelled, 0), RequestState::Cancelled);
    }

    #[test]
    fn poll_answers() {
        let code = |s: RequestState| match s.poll_answer() {
            PollAnswer::Tokens => "tokens",
            PollAnswer::Refused(code, _) => code.as_str(),
        };
        assert_eq!(
            code(at(RequestStatus::Pending, NOW + 5)),
            "authorization_pending"
        );
        assert_eq!(code(at(RequestStatus::Pending, NOW)), "expired_token");
        assert_eq!(code(at(RequestStatus::Approved, NOW + 5)), "tokens");
        assert_eq!(code(at(RequestStatus::Approved, NOW - 5)), "expired_token");
        assert_eq!(code(at(RequestStatus::Denied, NOW + 5)), "access_denied");
        assert_eq!(code(at(RequestStatus::Denied, NOW - 5)), "expired_token");
        // Already issued and withdrawn say so, expired or not.
        assert_eq!(code(at(RequestStatus::Redeemed, NOW - 5)), "invalid_grant");
        assert_eq!(code(at(RequestStatus::Redeemed, NOW + 5)), "invalid_grant");
        assert_eq!(code(at(RequestStatus::Cancelled, NOW - 5)), "access_denied");
        assert!(
            at(RequestStatus::Approved, NOW + 5)
                .poll_answer()
                .into_result()
                .is_ok()
        );
    }

    #[test]
    fn push_mode_deliveries() {
        use PushModeDelivery::{Error, Tokens};
        // An approval is delivered even when the delivery runs after the expiry.
        assert_eq!(
            at(RequestStatus::Approved, NOW - 5).push_mode_delivery(),
            Tokens
        );
        assert_eq!(
            at(RequestStatus::Approved, NOW + 5).push_mode_delivery(),
            Tokens
        );
        let error = |s: RequestState| match s.push_mode_delivery() {
            Error(code, _) => code,
            Tokens => "tokens",
        };
        assert_eq!(error(at(RequestStatus::Denied, NOW - 5)), "access_denied");
        assert_eq!(error(at(RequestStatus::Pending, NOW)), "expired_token");
        assert_eq!(
            error(at(RequestStatus::Redeemed, NOW)),
            "transaction_failed"
        );
        // Withdrawn because the user was locked or removed.
        assert_eq!(error(at(RequestStatus::Cancelled, NOW)), "access_denied");
    }

    #[test]
    fn device_views() {
        assert_eq!(
            at(RequestStatus::Pending, NOW + 1).device_view(),
            TransactionStatus::Pending
        );
        assert_eq!(
            at(RequestStatus::Pending, NOW).device_view(),
            TransactionStatus::Expired
        );
        // A decision stays what it was after the expiry.
        assert_eq!(
            at(RequestStatus::Denied, NOW - 1).device_view(),
            TransactionStatus::Denied
        );
        assert_eq!(
            at(RequestStatus::Redeemed, NOW - 1).device_view(),
            TransactionStatus::Approved
        );
        assert_eq!(
            at(RequestStatus::Cancelled, NOW + 1).device_view(),
            TransactionStatus::Cancelled
        );
    }

    #[test]
    fn wakeups_only_for_undecided_unexpired_requests() {
        assert_eq!(
            at(RequestStatus::Pending, NOW + 1).wakeup(),
            WakeupDue::Send
        );
        assert_eq!(at(RequestStatus::Pending, NOW).wakeup(), WakeupDue::Expired);
        assert_eq!(
            at(RequestStatus::Approved, NOW + 1).wakeup(),
            WakeupDue::Decided
        );
        assert_eq!(
            at(RequestStatus::Cancelled, NOW - 1).wakeup(),
            WakeupDue::Decided
        );
    }
}
