//! Contract tests: every endpoint's shape against Microsoft's documented examples. Each test
//! names the documentation page (microsoft-graph-docs-contrib or the identity platform docs)
//! its shape comes from.

mod auth;
mod batch;
mod common;
mod control;
mod delta;
mod discovery;
mod faults;
mod groups;
mod licences;
mod properties;
mod resources;
mod routing;
mod throttle;
mod tls;
mod users;
