//! Signing in to the console. With authentication on, the login page takes
//! a token or a username and password; the `Authorization` value they make
//! is checked against the admin API and kept in an HTTP-only, same-site
//! cookie, and every admin request the console sends carries it, so the
//! role's permissions decide what pages show and which actions succeed.
//! With authentication off there is nothing to sign in to.
//!
//! Posts are accepted only from the console's own pages: the cookie is
//! `SameSite=Strict`, and a post whose `Origin` names another host is
//! refused.

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use maud::html;
use serde::Deserialize;

use super::api::{ApiError, Caller};
use super::layout::{page, respond};
use super::ConsoleState;
use crate::security::tls::TlsPeer;

/// The cookie that holds the credential.
const COOKIE_NAME: &str = "magnetar_console";

/// Who is asking, and how they are shown.
pub struct Visitor {
    pub caller: Caller,
    /// A name for the header: the token's start or the username.
    pub shown_as: Option<String>,
}

impl Visitor {
    pub fn user(&self) -> Option<&str> {
        self.shown_as.as_deref()
    }
}

/// What the cookie stores: the `Authorization` value and the name shown.
fn cookie_value(authorization: &str, shown_as: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}",
        engine.encode(authorization),
        engine.encode(shown_as)
    )
}

fn parse_cookie(value: &str) -> Option<(String, String)> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (authorization, shown_as) = value.split_once('.')?;
    let authorization = String::from_utf8(engine.decode(authorization).ok()?).ok()?;
    let shown_as = String::from_utf8(engine.decode(shown_as).ok()?).ok()?;
    Some((authorization, shown_as))
}

fn credential_from(parts: &Parts) -> Option<(HeaderValue, String)> {
    for header in parts.headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if name == COOKIE_NAME {
                let (authorization, shown_as) = parse_cookie(value)?;
                let mut header = HeaderValue::from_str(&authorization).ok()?;
                header.set_sensitive(true);
                return Some((header, shown_as));
            }
        }
    }
    None
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        if parts.method == Method::POST && !same_origin(parts) {
            return Err((StatusCode::FORBIDDEN, "cross-origin post refused").into_response());
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<TlsPeer>>()
            .map(|info| info.0.clone());
        let (authorization, shown_as) = match credential_from(parts) {
            Some((header, shown)) => (Some(header), Some(shown)),
            None => (None, peer.as_ref().and_then(|p| p.common_name.clone())),
        };
        Ok(Visitor {
            caller: Caller {
                authorization,
                peer,
            },
            shown_as,
        })
    }
}

/// Whether a post's `Origin`, when sent, names this host.
fn same_origin(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let Some(host) = parts.headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// An API error on a page: to the login page when the visitor is not
/// signed in (or the credential stopped working), else the error page.
pub fn handle(error: ApiError, visitor: &Visitor) -> Response {
    if error.status() == StatusCode::UNAUTHORIZED {
        return Redirect::to("/ui/login").into_response();
    }
    super::layout::error_page(&error, visitor.user())
}

/// `GET /ui/login`.
pub async fn login_page() -> Response {
    login_form(None, StatusCode::OK)
}

fn login_form(error: Option<&str>, status: StatusCode) -> Response {
    respond(
        status,
        page(
            "Sign in",
            None,
            html! {
                h1 { "Sign in" }
                @if let Some(error) = error {
                    div.card.error role="alert" { (error) }
                }
                div.grid {
                    form.card method="post" action="/ui/login" {
                        h2 { "With a token" }
                        input type="hidden" name="method" value="token";
                        label { "Token" textarea name="token" rows="4" cols="40" required {} }
                        p { button type="submit" { "Sign in" } }
                    }
                    form.card method="post" action="/ui/login" {
                        h2 { "With a username and password" }
                        input type="hidden" name="method" value="basic";
                        label { "Username" input name="username" autocomplete="username" required; }
                        label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                        p { button type="submit" { "Sign in" } }
                    }
                }
            },
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    method: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /ui/login`: checks the credential with a request any
/// authenticated role may make, then sets the cookie.
pub async fn login(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Form(form): Form<LoginForm>,
) -> Response {
    let (authorization, shown_as) = match form.method.as_str() {
        "token" if !form.token.trim().is_empty() => {
            let token = form.token.trim();
            let shown: String = token.chars().take(12).collect();
            (format!("Bearer {token}"), format!("token {shown}…"))
        }
        "basic" if !form.username.is_empty() => {
            let pair = format!("{}:{}", form.username, form.password);
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            (format!("Basic {encoded}"), form.username.clone())
        }
        _ => {
            return login_form(
                Some("Fill in a token, or a username and password."),
                StatusCode::BAD_REQUEST,
            )
        }
    };
    let Ok(mut header) = HeaderValue::from_str(&authorization) else {
        return login_form(
            Some("The credential holds characters HTTP cannot carry."),
            StatusCode::BAD_REQUEST,
        );
    };
    header.set_sensitive(true);
    let caller = Caller {
        authorization: Some(header),
        peer: visitor.caller.peer.clone(),
    };
    let check: Result<Vec<String>, ApiError> = state.api.get(&caller, "/admin/v2/clusters").await;
    match check {
        Ok(_) => {}
        Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
            return login_form(
                Some(&format!("Not signed in: {error}")),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(error) => return login_form(Some(&error.to_string()), error.status()),
    }
    let secure = if state.https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/ui; HttpOnly; SameSite=Strict{secure}",
        cookie_value(&authorization, &shown_as)
    );
    tracing::info!(user = %shown_as, "console sign-in");
    ([(SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

/// `POST /ui/logout`: forgets the cookie.
pub async fn logout(_visitor: Visitor) -> Response {
    let cookie = format!("{COOKIE_NAME}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(SET_COOKIE, cookie)], Redirect::to("/ui/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_round_trips() {
        let value = cookie_value("Bearer abc.def", "token abc…");
        assert!(!value.contains(' ') && !value.contains(';'));
        assert_eq!(
            parse_cookie(&value),
            Some(("Bearer abc.def".to_string(), "token abc…".to_string()))
        );
        assert_eq!(parse_cookie("garbage"), None);
        assert_eq!(parse_cookie("%%.%%"), None);
    }

    fn parts(origin: Option<&str>) -> Parts {
        let mut request = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/ui/logout")
            .header(HOST, "broker:8080");
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        assert!(same_origin(&parts(None)));
        assert!(same_origin(&parts(Some("http://broker:8080"))));
        assert!(!same_origin(&parts(Some("http://evil.example"))));
        assert!(!same_origin(&parts(Some("null"))));
    }
}
