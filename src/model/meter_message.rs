//! A sample in the wire shape of Ceilometer's `meter_message_from_counter`, signed.
