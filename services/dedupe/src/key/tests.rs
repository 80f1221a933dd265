use super::*;
use hookline_core::event::{ContentType, Event, FormSubmission, PageView, Visitor};

fn view(content_id: &str, contact: Option<&str>, fp: Option<&str>) -> RawEvent {
    RawEvent {
        event: Event::new(EventData::PageView(PageView::new(
            ContentType::Event,
            content_id,
            "s",
            contact,
        ))),
        visitor: Visitor {
            fingerprint: fp.map(Into::into),
            bot: false,
        },
    }
}

fn form(contact: Option<&str>, email: Option<&str>, fields: &[(&str, &str)]) -> RawEvent {
    RawEvent {
        event: Event::new(EventData::FormSubmission(FormSubmission::new(
            "frm", contact, email, fields,
        ))),
        visitor: Visitor::default(),
    }
}

fn keyed(raw: &RawEvent) -> Keys {
    match classify(raw) {
        Class::Keyed(k) => k,
        other => panic!("expected keys, got {other:?}"),
    }
}

#[test]
fn page_view_key_is_content_and_visitor() {
    let a = keyed(&view("c1", Some("cnt"), None));
    assert_eq!(a.current.len(), 64);
    assert!(a.current.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a, keyed(&view("c1", Some("cnt"), Some("ignored"))));
    assert_ne!(a, keyed(&view("c2", Some("cnt"), None)));
    assert_ne!(a, keyed(&view("c1", Some("cnt2"), None)));
    // A contact id never collides with a fingerprint of the same text.
    assert_ne!(a.current, keyed(&view("c1", None, Some("cnt"))).current);
}

#[test]
fn fingerprints_give_current_and_previous_keys() {
    let k = keyed(&view("c1", None, Some("today.yesterday")));
    let yesterday = keyed(&view("c1", None, Some("yesterday.before")));
    assert_eq!(k.previous.as_deref(), Some(yesterday.current.as_str()));
    let single = keyed(&view("c1", None, Some("today")));
    assert_eq!(single.current, k.current);
    assert_eq!(single.previous, None);
}

#[test]
fn bots_and_unidentified_visitors() {
    let mut bot = view("c1", Some("cnt"), None);
    bot.visitor.bot = true;
    assert_eq!(classify(&bot), Class::Bot);
    assert_eq!(classify(&view("c1", None, None)), Class::Unidentified);
    assert_eq!(
        classify(&view("c1", Some(""), Some(" "))),
        Class::Unidentified
    );
    assert_eq!(classify(&form(None, None, &[])), Class::Unidentified);
}

#[test]
fn form_key_is_form_identity_and_fields() {
    let a = keyed(&form(
        None,
        Some("Ada@Example.com "),
        &[("x", "1"), ("y", "2")],
    ));
    assert_eq!(
        a,
        keyed(&form(
            None,
            Some("ada@example.com"),
            &[("y", "2"), ("x", "1")]
        ))
    );
    assert_ne!(
        a,
        keyed(&form(None, Some("ada@example.com"), &[("x", "1")]))
    );
    assert_ne!(
        a,
        keyed(&form(
            None,
            Some("bob@example.com"),
            &[("x", "1"), ("y", "2")]
        ))
    );
    // contact_id wins over email.
    let c = keyed(&form(Some("cnt"), Some("a@b.c"), &[]));
    assert_eq!(c, keyed(&form(Some("cnt"), Some("other@b.c"), &[])));
}
