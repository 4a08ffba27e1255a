//! placeholder

pub mod better_auth;
