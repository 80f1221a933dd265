//! Reading a form's fields whatever the form builder called them.
//!
//! Field names are compared after lower-casing and dropping everything but
//! letters and digits (`first_name`, `firstName`, `First Name` are one
//! name), then looked up in alias tables modelled on the HubSpot mapping
//! of the CMS vendor's guide. The CRM consumers key contacts with these, and
//! webhook-out's `optimocms` profile uses them to give receivers the
//! `firstName` / `lastName` / `email` fields that guide reads.

use std::collections::BTreeMap;

/// Names of an email field.
pub const EMAIL: &[&str] = &["email", "emailaddress", "mail"];
/// Names of a first-name field.
pub const FIRST_NAME: &[&str] = &["firstname", "givenname", "fname", "forename"];
/// Names of a last-name field.
pub const LAST_NAME: &[&str] = &["lastname", "surname", "familyname", "lname"];
/// Names of a full-name field.
pub const FULL_NAME: &[&str] = &["name", "fullname"];

/// The first non-blank value among fields whose normalised name is one of
/// `aliases` (in alias order), trimmed.
pub fn field<'a>(fields: &'a BTreeMap<String, String>, aliases: &[&str]) -> Option<&'a str> {
    aliases.iter().find_map(|alias| {
        fields
            .iter()
            .filter(|(name, _)| normalise(name) == *alias)
            .map(|(_, value)| value.trim())
            .find(|v| !v.is_empty())
    })
}

/// First and last name: the name fields, else the words of a full name
/// (first word, then the rest). An explicit field wins over the full name.
pub fn names(fields: &BTreeMap<String, String>) -> (Option<String>, Option<String>) {
    let mut first = field(fields, FIRST_NAME).map(str::to_string);
    let mut last = field(fields, LAST_NAME).map(str::to_string);
    if let Some(full) = field(fields, FULL_NAME) {
        let mut words = full.split_whitespace();
        let head = words.next().map(str::to_string);
        let rest = words.collect::<Vec<_>>().join(" ");
        first = first.or(head);
        last = last.or_else(|| Some(rest).filter(|r| !r.is_empty()));
    }
    (first, last)
}

/// A field name lower-cased, with only its letters and digits.
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
