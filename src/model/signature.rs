//! Ceilometer's message signature: HMAC-SHA256 over the sorted, flattened `str()` key/values.
