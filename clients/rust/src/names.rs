//! Cassette names from test names.

/// The longest cassette name the server accepts.
pub const MAX_CASSETTE_NAME_BYTES: usize = 200;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-+=@,[]".contains(c)
}

/// Turns a test path (`"orders::tests::create"`, or `a/b` segments) into a
/// cassette name the server accepts: segments of `[A-Za-z0-9._-+=@,[]]`
/// separated by `/`, none empty or only dots, at most 200 bytes. A name
/// that is already valid stays as it is; otherwise other characters become
/// `_` and `,h` + 8 hex digits of an FNV-1a hash of the test name is
/// appended (so `a:b` and `a;b` get different cassettes), as in the Go client.
pub fn cassette_name(test_name: &str) -> String {
    let path = test_name.replace("::", "/");
    let mut changed = false;
    let segs: Vec<String> = path
        .split('/')
        .map(|seg| {
            let mut out: String = seg
                .chars()
                .map(|c| {
                    if allowed(c) {
                        c
                    } else {
                        changed = true;
                        '_'
                    }
                })
                .collect();
            if out.trim_matches('.').is_empty() {
                out = "_".repeat(out.len().max(1));
                changed = true;
            }
            out
        })
        .collect();
    let mut name = segs.join("/");
    if !changed && name.len() <= MAX_CASSETTE_NAME_BYTES {
        return name;
    }
    let mut h: u32 = 0x811c9dc5;
    for b in test_name.as_bytes() {
        h ^= *b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    let suffix = format!(",h{h:08x}");
    if name.len() + suffix.len() > MAX_CASSETTE_NAME_BYTES {
        name.truncate(MAX_CASSETTE_NAME_BYTES - suffix.len()); // ASCII only by now
        name = name.trim_end_matches('/').to_string();
    }
    name + &suffix
}

/// The test's path from `std::any::type_name` of an item declared in its
/// body (what [`cassette_name!`](macro@crate::cassette_name) passes):
/// `"crate::mod::test_fn::{{closure}}::f"` → `"crate::mod::test_fn"`.
#[doc(hidden)]
pub fn test_path_from_type_name(t: &str) -> String {
    let t = t.strip_suffix("::__matgto_here").unwrap_or(t);
    t.split("::").filter(|s| !s.starts_with("{{")).collect::<Vec<_>>().join("::")
}

/// The cassette name of the enclosing test function: module path + function
/// name, `"file_or_crate/module/test_fn"` (works in `#[tokio::test]` and in
/// any runner, whatever thread it runs the test on).
#[macro_export]
macro_rules! cassette_name {
    () => {{
        fn __matgto_here() {}
        fn __matgto_name_of<T>(_: T) -> &'static str {
            ::std::any::type_name::<T>()
        }
        $crate::cassette_name(&$crate::names::test_path_from_type_name(__matgto_name_of(__matgto_here)))
    }};
}
