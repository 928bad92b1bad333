//! The proxy's errors, and the `ServerError` each one shows a client.

use magnetar_proto::pulsar::api::ServerError;
use magnetar_proto::pulsar::FrameError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no broker is registered in the metadata store")]
    NoBrokers,
    #[error("{0} is not a registered broker")]
    UnknownBroker(String),
    #[error("cannot read the broker registry: {0}")]
    Registry(String),
    #[error("cannot connect to broker {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("broker {0} closed the connection")]
    UpstreamClosed(String),
    #[error("broker {address} did not answer within {millis} ms")]
    Timeout { address: String, millis: u64 },
    #[error("broker {address} refused the handshake: {message}")]
    Handshake { address: String, message: String },
    #[error("too many redirects looking up {0}")]
    TooManyRedirects(String),
    #[error("unexpected reply from broker {address}: {what}")]
    Unexpected { address: String, what: String },
    #[error("bad broker URL {0:?}")]
    BadUrl(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ProxyError {
    /// The code a client gets for this error. Every one of them is worth a
    /// retry except an unknown broker and a bad URL.
    pub fn server_error(&self) -> ServerError {
        match self {
            ProxyError::UnknownBroker(_) | ProxyError::BadUrl(_) => ServerError::NotAllowedError,
            ProxyError::TooManyRedirects(_) => ServerError::TooManyRequests,
            _ => ServerError::ServiceNotReady,
        }
    }
}

/// `host:port` of a `pulsar://host:port` (or `pulsar+ssl://`) URL, or of a
/// bare `host:port`.
pub fn service_address(url: &str) -> Result<String, ProxyError> {
    magnetar_proto::pulsar::service_address(url)
        .map(str::to_string)
        .ok_or_else(|| ProxyError::BadUrl(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_addresses() {
        assert_eq!(service_address("pulsar://b1:6650").unwrap(), "b1:6650");
        assert_eq!(service_address("pulsar://b1:6650/").unwrap(), "b1:6650");
        assert_eq!(service_address("b1:6650").unwrap(), "b1:6650");
        assert!(service_address("pulsar://b1").is_err());
        assert!(service_address("pulsar://:6650").is_err());
        assert!(service_address("pulsar://b1:99999").is_err());
    }
}
