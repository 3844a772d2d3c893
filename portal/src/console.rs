//! The web console's files, embedded in the binary: no build step.

pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

pub fn asset(path: &str) -> Option<Asset> {
    let (content_type, body) = match path {
        "/" | "/index.html" => (
            "text/html; charset=utf-8",
            include_str!("../console/index.html"),
        ),
        "/console/app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../console/app.js"),
        ),
        "/console/charts.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../console/charts.js"),
        ),
        "/console/style.css" => (
            "text/css; charset=utf-8",
            include_str!("../console/style.css"),
        ),
        _ => return None,
    };
    Some(Asset { content_type, body })
}
