//! Gnocchi's access log: werkzeug's, one line per request, in the API's log file.

/// Gnocchi's access log (werkzeug's, one line per request) summed up: method, path with
/// resource ids and query left out, status.
pub fn requests(log: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in log
        .lines()
        .filter(|l| l.contains("werkzeug") && l.contains(" HTTP/1.1"))
    {
        let Some(request) = line.split('"').nth(1) else {
            continue;
        };
        let status = line
            .split('"')
            .nth(2)
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?");
        let mut words = request.split_whitespace();
        // werkzeug colours the request line: drop the escape sequences.
        let method = words
            .next()
            .unwrap_or_default()
            .rsplit('m')
            .next()
            .unwrap_or_default();
        let path = words
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default();
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.len() > 4 && parts[2] == "resource" {
            parts.truncate(4);
            parts.push("<id>");
        }
        *counts
            .entry(format!("{method} {} {status}", parts.join("/")))
            .or_insert(0) += 1;
    }
    counts
}
