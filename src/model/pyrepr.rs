//! Python's `str()` / `repr()` of JSON values, as Ceilometer's signatures and text traits see them.
