use super::*;
use hookline_core::event::FormSubmission;

fn form(form_id: &str, email: Option<&str>, fields: &[(&str, &str)]) -> Event {
    Event::new(EventData::FormSubmission(FormSubmission::new(
        form_id, None, email, fields,
    )))
}

#[test]
fn a_form_maps_to_the_guides_properties() {
    let e = form(
        "frm_9",
        Some(" Ann@Example.com"),
        &[
            ("name", "Ann Lee Smith"),
            ("phone", "+44 1"),
            ("company", "Acme"),
            ("job", ""),
        ],
    );
    let input = input(&e).expect("has an email");
    assert_eq!(input.id_property, "email");
    assert_eq!(input.id, "ann@example.com");
    let want: BTreeMap<&str, String> = [
        ("email", "ann@example.com"),
        ("firstname", "Ann"),
        ("lastname", "Lee Smith"),
        ("phone", "+44 1"),
        ("company", "Acme"),
        ("hs_lead_status", "NEW"),
        ("source", "Resources Centre form: frm_9"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    assert_eq!(input.properties, want);
}

#[test]
fn blank_fields_are_left_out_and_site_forms_are_optimocms() {
    let e = form(
        "f",
        None,
        &[
            ("email", "b@x.io"),
            ("siteId", "site_1"),
            ("firstName", " "),
        ],
    );
    let input = input(&e).expect("email from the fields");
    assert!(!input.properties.contains_key("firstname"));
    assert_eq!(input.properties["source"], "OptimoCMS form: f");
    assert!(super::input(&form("f", None, &[("name", "No Mail")])).is_none());
}

#[test]
fn chunks_hold_at_most_100_and_no_email_twice() {
    let events: Vec<Event> = (0..150)
        .map(|i| form("f", Some(&format!("p{}@x.io", i % 120)), &[]))
        .collect();
    let pending = events.iter().map(|e| Pending {
        event: e,
        input: input(e).unwrap(),
    });
    let chunks = chunks(pending);
    assert_eq!(
        chunks.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![100, 50]
    );
    for c in &chunks {
        let emails: HashSet<&str> = c.iter().map(|p| p.input.id.as_str()).collect();
        assert_eq!(emails.len(), c.len());
    }
}
