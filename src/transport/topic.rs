//! AMQP topic-exchange routing-key patterns (`*` = one word, `#` = zero or more words).

/// Whether `key` matches the binding `pattern`.
pub fn matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

fn go(p: &[&str], k: &[&str]) -> bool {
    match p.split_first() {
        None => k.is_empty(),
        Some((&"#", rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
        Some((w, rest)) => match k.split_first() {
            Some((kw, krest)) => (*w == "*" || w == kw) && go(rest, krest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn topic_patterns() {
        assert!(matches("notifications.info", "notifications.info"));
        assert!(!matches("notifications.info", "notifications.error"));
        assert!(matches("#", "a.b.c"));
        assert!(matches("#", ""));
        assert!(matches("metering.*", "metering.sample"));
        assert!(!matches("metering.*", "metering.cpu.sample"));
        assert!(matches("metering.#", "metering.cpu.sample"));
    }
}
