//! HTTP: routes, extractors for the three kinds of caller, request reading and error rendering.
//! No business rules here; the only module besides `lib.rs` and `main.rs` that knows axum.

mod admin;
pub mod body;
mod console;
mod device;
pub mod error;
pub mod extractors;
mod openapi;
mod routes;

pub use connection::{Connection, WithConnection};
pub use routes::app;

mod connection {
    use std::net::SocketAddr;
    use std::sync::Arc;

    /// What the connection a request came on tells: the peer's address and, over the
    /// listener's own TLS, the certificate chain the client sent (leaf first, DER). Every
    /// request carries it as an extension.
    #[derive(Debug, Clone)]
    pub struct Connection {
        /// The TCP peer (a proxy, when the server sits behind one).
        pub peer: SocketAddr,
        /// The client's certificates from the TLS handshake.
        pub certificates: Option<Arc<Vec<Vec<u8>>>>,
    }

    /// A hyper service that puts its connection's [`Connection`] on every request.
    #[derive(Debug, Clone)]
    pub struct WithConnection<S> {
        inner: S,
        connection: Connection,
    }

    impl<S> WithConnection<S> {
        /// Wraps `inner` for one connection.
        pub fn new(inner: S, connection: Connection) -> Self {
            Self { inner, connection }
        }
    }

    impl<S, B> hyper::service::Service<hyper::Request<B>> for WithConnection<S>
    where
        S: hyper::service::Service<hyper::Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        fn call(&self, mut request: hyper::Request<B>) -> Self::Future {
            request.extensions_mut().insert(self.connection.clone());
            self.inner.call(request)
        }
    }
}
