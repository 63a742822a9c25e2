//! Reading an HTTP answer the way every test does: the status and the JSON body (`Null` when the
//! body is empty; a body that is not JSON fails the test with what it was).

use serde_json::Value;

/// The status and JSON body of `response`.
pub async fn json_answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}
