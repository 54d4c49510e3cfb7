//! `GET /users/{id}/photos`, `/photos/{size}`, `/photos/{size}/$value`, `/photo` and
//! `/photo/$value` (profilephoto-get.md, resources/profilephoto.md: a media entity keyed by its
//! size id, so each size in `photos` has its own `$value`). Users whose object id ends in an
//! even byte have a generated 1×1 PNG so that clients' photo paths run; the others, and sizes
//! other than `1X1`, answer Graph's 404 `ImageNotFound`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::error::GraphError;
use super::{Caller, READ_USERS};
use crate::directory::User;
use crate::state::{Emulator, read};

/// A 1×1 PNG.
const PHOTO_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// The id of the one size a photo comes in (ids compare without regard to case: `1x1`).
const PHOTO_SIZE: &str = "1X1";

/// Whether the emulator gives this user a photo.
pub fn has_photo(user: &User) -> bool {
    user.id.as_bytes()[15].is_multiple_of(2)
}

fn image_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
}

fn metadata(user: &User) -> Value {
    json!({
        "@odata.mediaContentType": "image/png",
        "@odata.mediaEtag": format!("W/\"{}\"", user.id.simple()),
        "id": PHOTO_SIZE,
        "height": 1,
        "width": 1,
    })
}

fn with_photo<T>(
    caller: &Caller,
    id: &str,
    answer: impl FnOnce(&User) -> T,
) -> Result<T, GraphError> {
    caller.require(READ_USERS)?;
    let dir = read(&caller.tenant.directory);
    let user = dir
        .live_user_by_key(id)
        .ok_or_else(|| GraphError::not_found(id))?;
    if has_photo(user) {
        Ok(answer(user))
    } else {
        Err(image_not_found())
    }
}

/// `GET /users/{id}/photos`: the sizes available (one, 1×1).
pub async fn list(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let value = with_photo(&caller, &id, metadata)?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#users('{id}')/photos", emulator.urls.graph),
        "value": [value],
    }))
    .into_response())
}

/// `GET /users/{id}/photo`: the photo's metadata.
pub async fn get(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let mut value = with_photo(&caller, &id, metadata)?;
    value["@odata.context"] = Value::String(format!(
        "{}/$metadata#users('{id}')/photo/$entity",
        emulator.urls.graph
    ));
    Ok(Json(value).into_response())
}

/// `GET /users/{id}/photos/{size}`: the metadata of one size.
pub async fn size(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path((id, size)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    let mut value = with_photo(&caller, &id, metadata)?;
    if !size.eq_ignore_ascii_case(PHOTO_SIZE) {
        return Err(image_not_found());
    }
    value["@odata.context"] = Value::String(format!(
        "{}/$metadata#users('{id}')/photos/$entity",
        emulator.urls.graph
    ));
    Ok(Json(value).into_response())
}

/// `GET /users/{id}/photo/$value`: the image bytes.
pub async fn value(
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    with_photo(&caller, &id, |_| ())?;
    Ok(png())
}

/// `GET /users/{id}/photos/{size}/$value`: the image bytes of one size.
pub async fn size_value(
    Extension(caller): Extension<Caller>,
    Path((id, size)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    with_photo(&caller, &id, |_| ())?;
    if !size.eq_ignore_ascii_case(PHOTO_SIZE) {
        return Err(image_not_found());
    }
    Ok(png())
}

fn png() -> Response {
    let bytes = STANDARD.decode(PHOTO_PNG).unwrap_or_default();
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}
