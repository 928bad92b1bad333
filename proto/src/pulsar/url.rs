//! Service URLs: `pulsar://host:port` and `pulsar+ssl://host:port`.

/// `host:port` of a service URL (`pulsar://` or `pulsar+ssl://`, a trailing
/// `/` allowed) or of a bare `host:port` (how Java clients name the broker
/// in `proxy_to_broker_url`); `None` when the host is empty or the port is
/// not a port number.
pub fn service_address(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("pulsar://")
        .or_else(|| url.strip_prefix("pulsar+ssl://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::service_address;

    #[test]
    fn addresses_of_service_urls() {
        assert_eq!(service_address("pulsar://b1:6650"), Some("b1:6650"));
        assert_eq!(service_address("pulsar+ssl://b1:6651/"), Some("b1:6651"));
        assert_eq!(service_address("b1:6650"), Some("b1:6650"));
        assert_eq!(service_address("pulsar://b1"), None);
        assert_eq!(service_address("pulsar://:6650"), None);
        assert_eq!(service_address("pulsar://b1:99999"), None);
    }
}
