//! `urljoin` as Ceilometer's dynamic pollster joins an endpoint and a definition's `url_path`
//! (or a response's next-page link).

/// `urljoin(base + "/", path)` for the cases pollsters use: an absolute URL replaces the base,
/// `/path` replaces the base's path, `?query` and relative paths resolve against it.
pub fn url_join(base: &str, path: &str) -> String {
    if path.contains("://") {
        return path.to_owned();
    }
    let base = if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    };
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    if let Some(p) = path.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("http");
        return format!("{scheme}://{p}");
    }
    if path.starts_with('/') {
        return format!("{}{path}", &base[..origin_end]);
    }
    if path.is_empty() {
        return base;
    }
    // Drop the base's query/fragment and last segment (it ends with '/', so nothing).
    let cut = base.find(['?', '#']).unwrap_or(base.len());
    let dir = &base[..cut];
    let dir = &dir[..dir.rfind('/').map_or(dir.len(), |i| i + 1)];
    let mut segs: Vec<&str> = dir[origin_end..].split('/').collect();
    segs.pop();
    let (rel, query) = match path.find(['?', '#']) {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    for s in rel.split('/') {
        match s {
            "." => {}
            ".." => {
                if segs.len() > 1 {
                    segs.pop();
                }
            }
            s => segs.push(s),
        }
    }
    format!("{}{}{}", &base[..origin_end], segs.join("/"), query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_join_is_urljoin() {
        assert_eq!(url_join("http://h:1", "v2/x"), "http://h:1/v2/x");
        assert_eq!(url_join("http://h:1/api", "v2/x?a=1"), "http://h:1/api/v2/x?a=1");
        assert_eq!(url_join("http://h:1/api/", "/v2/x"), "http://h:1/v2/x");
        assert_eq!(url_join("http://h:1/api/", "http://o/y"), "http://o/y");
        assert_eq!(url_join("http://h:1/a/b/", "../c"), "http://h:1/a/c");
    }
}
