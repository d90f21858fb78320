//! OCI registry access: resolve references to digests; mirrors, TLS, credentials. The only module that touches the network.
