//! `PushPayload::from_json`: the wake-up push as the SDK receives it from FCM/APNs.
#![no_main]

use ciba_core::protocol::PushPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(payload) = PushPayload::from_json(text) else {
        return;
    };
    // An accepted payload is one the server could have sent: it serialises and reads back.
    let json = serde_json::to_string(&payload).expect("a payload serialises");
    assert_eq!(PushPayload::from_json(&json).as_ref(), Ok(&payload));
});
