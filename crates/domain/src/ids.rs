use std::fmt;

use uuid::Uuid;

use crate::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the textual form of a UUID (any version); `field` names the input
            /// in the error.
            pub fn parse(input: &str) -> Result<Self, DomainError> {
                Uuid::try_parse(input)
                    .map(Self)
                    .map_err(|_| DomainError::invalid($field, "must be a UUID"))
            }

            /// Wraps an already parsed UUID.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            /// Lower-case hyphenated form.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a [`crate::Thread`]. Generated as UUIDv7 unless the client supplies one.
    ThreadId,
    "id"
);
uuid_id!(
    /// Identifies a [`crate::Message`]. Generated as UUIDv7 unless the client supplies one.
    MessageId,
    "id"
);

/// The id of an authenticated user: Better Auth's user id, an opaque string (not
/// necessarily a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Longest accepted user id, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Accepts 1 to 255 bytes without control characters.
    pub fn parse(input: impl Into<String>) -> Result<Self, DomainError> {
        let input = input.into();
        if input.is_empty() {
            return Err(DomainError::invalid("user_id", "must not be empty"));
        }
        if input.len() > Self::MAX_LEN {
            return Err(DomainError::invalid("user_id", "is longer than 255 bytes"));
        }
        if input.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "user_id",
                "must not contain control characters",
            ));
        }
        Ok(Self(input))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_ids_that_cannot_exist_are_rejected() {
        for bad in ["", "a\u{0}b", "line\nbreak", &"x".repeat(256)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ids_print_lower_case_hyphenated() {
        let id = ThreadId::parse("0192F1E2-7A4B-7C3D-8E9F-0A1B2C3D4E5F").expect("valid");
        assert_eq!(id.to_string(), "0192f1e2-7a4b-7c3d-8e9f-0a1b2c3d4e5f");
    }

    #[test]
    fn garbage_is_not_a_thread_id() {
        assert!(ThreadId::parse("not-a-uuid").is_err());
        assert!(MessageId::parse("").is_err());
    }

    #[test]
    fn generated_ids_are_version_7() {
        assert_eq!(ThreadId::generate().as_uuid().get_version_num(), 7);
    }

    proptest! {
        #[test]
        fn printable_user_ids_round_trip(s in "[A-Za-z0-9_.@-]{1,255}") {
            let id = UserId::parse(s.clone()).expect("valid");
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn any_uuid_round_trips(bytes in any::<[u8; 16]>()) {
            let uuid = Uuid::from_bytes(bytes);
            let id = MessageId::parse(&uuid.to_string()).expect("valid");
            prop_assert_eq!(id.as_uuid(), &uuid);
        }
    }
}
