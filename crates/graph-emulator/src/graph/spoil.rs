//! Fault answers that serve the page, then spoil it: cut, without its next link, pointing back
//! at itself, with the connection closed half-way, or with unexpected types.

use axum::body::{Body, Bytes};

/// How a served answer is spoiled.
#[derive(Debug, Clone, Copy)]
pub(super) enum Mangle {
    /// The body cut in half.
    Cut,
    /// The page's `@odata.nextLink` left out.
    DropNextLink,
    /// The page's `@odata.nextLink` pointing back at the page.
    RepeatPage,
    /// The connection closed half-way through the body.
    Reset,
    /// The page's first object given unexpected types.
    WrongTypes,
}

/// A served body, spoiled as `mangle` says; `self_link` is the URL the client asked for.
pub(super) fn spoil(mangle: Mangle, bytes: Bytes, self_link: &str) -> Body {
    let page = || match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(page)) => Some(page),
        _ => None,
    };
    let edited = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        page().map_or_else(
            || Body::from(bytes.clone()),
            |mut page| {
                edit(&mut page);
                Body::from(serde_json::Value::Object(page).to_string())
            },
        )
    };
    match mangle {
        Mangle::Cut => Body::from(bytes.slice(..bytes.len() / 2)),
        Mangle::DropNextLink => edited(&|page| {
            page.remove("@odata.nextLink");
        }),
        Mangle::RepeatPage => edited(&|page| {
            page.remove("@odata.deltaLink");
            page.insert(
                "@odata.nextLink".to_owned(),
                serde_json::Value::String(self_link.to_owned()),
            );
        }),
        Mangle::WrongTypes => edited(&|page| {
            if let Some(serde_json::Value::Object(first)) = page
                .get_mut("value")
                .and_then(|v| v.as_array_mut())
                .and_then(|objects| objects.first_mut())
            {
                for (key, value) in [
                    ("displayName", serde_json::Value::Null),
                    ("jobTitle", serde_json::json!(12345)),
                    ("department", serde_json::json!({"name": "IT"})),
                    ("accountEnabled", serde_json::json!("yes")),
                    ("mail", serde_json::json!(["a@b.c"])),
                    ("businessPhones", serde_json::json!("+1 555 0100")),
                    ("officeLocation", serde_json::json!(true)),
                ] {
                    first.insert(key.to_owned(), value);
                }
            }
        }),
        Mangle::Reset => {
            let half = bytes.slice(..bytes.len() / 2);
            Body::from_stream(futures::stream::iter([
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "the emulator's connection-reset fault",
                )),
            ]))
        }
    }
}
